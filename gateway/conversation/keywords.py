"""Keywords that interrupt any chat flow, in English and Kiswahili, forgiving of typos."""

from __future__ import annotations

import re

from gateway.reference.directory import fold

# Every spelling we accept -> the keyword. Short words are matched exactly; longer ones also
# with one letter wrong, missing, extra or swapped ("msada", "saidiaa", "stauts").
WORDS = {
    "sos": ["sos", "s0s", "soss", "sooos", "help", "hlep", "halp", "helpme", "msaada", "saidia",
            "nisaidie", "nisaidieni", "tusaidie", "dharura"],
    "status": ["status", "kesi"],
    "lang": ["lang", "language", "lugha"],
    "stop": ["stop", "unsubscribe", "simamisha", "sitisha"],
    "start": ["start", "anza", "subscribe"],
    "menu": ["menu", "menyu", "home", "mwanzo"],
    "balance": ["balance", "salio"],  # the decoy screen (config/flows/safety.yaml)
    "close": ["close", "funga", "nimesaidika", "nimesaidiwa"],  # "close my case": needs the safe word
}
SWAHILI = {"msaada", "saidia", "nisaidie", "nisaidieni", "tusaidie", "dharura", "kesi", "lugha",
           "simamisha", "sitisha", "anza", "menyu", "mwanzo", "salio", "funga", "nimesaidika", "nimesaidiwa"}
# Ways of saying "I am fine now, close it" that start with other words: read as CLOSE.
CLOSE_PHRASES = ("im fine", "i am fine", "im ok", "i am ok", "im okay", "i am okay", "im safe", "i am safe",
                 "im good now", "i am good now", "please close", "niko salama", "nipo salama", "sina shida",
                 "funga kesi")
_EXACT = {spelling: keyword for keyword, spellings in WORDS.items() for spelling in spellings}
FUZZY_FROM = 5  # letters; shorter words must be spelled right ("held" is not "help")
FUZZY_KEYWORDS = ("sos", "status", "lang", "start")  # worth guessing at; "Mwanza" is a city, not MWANZO
NOT_KEYWORDS = {"saida", "statue", "stats", "states"}  # real words one letter from a keyword


def parse(text: str) -> tuple[str, str, bool] | None:
    """(keyword, the rest of the text, written in Kiswahili) or None.

    "SOS my madam beat me" -> ("sos", "my madam beat me", False); "s.o.s" and "S O S!" count.
    """
    stripped = (text or "").strip()
    phrase = fold(re.sub(r"['’]", "", stripped))
    for start in CLOSE_PHRASES:
        if phrase == start or phrase.startswith(start + " "):
            return "close", stripped, start in ("niko salama", "nipo salama", "sina shida", "funga kesi")
    match = re.match(r"^\s*(s\W?o\W?s\b\W*|[^\s]+)\s*(.*)$", stripped, re.IGNORECASE | re.DOTALL)
    if not match:
        return None
    word = re.sub(r"[^a-z0-9]", "", fold(match.group(1)))
    rest = match.group(2).strip()
    keyword = _EXACT.get(word) or _close(word)
    if keyword is None:
        return None
    spelled = word if word in _EXACT else next(s for s in _EXACT if _EXACT[s] == keyword and _near(word, s))
    return keyword, rest, spelled in SWAHILI


def _close(word: str) -> str | None:
    if len(word) < FUZZY_FROM or word in NOT_KEYWORDS:
        return None
    for spelling, keyword in _EXACT.items():
        if keyword in FUZZY_KEYWORDS and len(spelling) >= FUZZY_FROM and _near(word, spelling):
            return keyword
    return None


def _near(a: str, b: str) -> bool:
    """One edit apart: a letter changed, added, removed, or two neighbours swapped."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diffs) == 1 or (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                                   and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))
