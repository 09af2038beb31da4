"""gateway.conversation.keywords.parse: the words that interrupt any chat flow, in English and Kiswahili,
forgiving of case, punctuation and one slip of the finger on longer words, and the ordinary
words (names, places, answers to questions) that must be left alone."""

from __future__ import annotations

import pytest

from gateway.conversation.keywords import parse

# text -> (keyword, rest, written in Kiswahili)
MATCHES = [
    # SOS, however it is typed
    ("SOS", ("sos", "", False)),
    ("sos", ("sos", "", False)),
    ("Sos", ("sos", "", False)),
    ("SOS!!!", ("sos", "", False)),
    ("S.O.S", ("sos", "", False)),
    ("s.o.s.", ("sos", "", False)),
    ("S O S", ("sos", "", False)),
    ("S-O-S", ("sos", "", False)),
    ("  sos  ", ("sos", "", False)),
    ("s0s", ("sos", "", False)),
    ("SOSS", ("sos", "", False)),
    ("sooos", ("sos", "", False)),
    ("SOS my madam beat me", ("sos", "my madam beat me", False)),
    ("S.O.S my madam beat me", ("sos", "my madam beat me", False)),
    ("sos\nI am locked in", ("sos", "I am locked in", False)),
    ("HELP", ("sos", "", False)),
    ("help", ("sos", "", False)),
    ("Help!", ("sos", "", False)),
    ("help me", ("sos", "me", False)),
    ("HELP ME PLEASE", ("sos", "ME PLEASE", False)),
    ("helpme", ("sos", "", False)),
    ("hlep", ("sos", "", False)),
    ("halp", ("sos", "", False)),
    # ... and in Kiswahili
    ("MSAADA", ("sos", "", True)),
    ("msaada", ("sos", "", True)),
    ("Msaada!", ("sos", "", True)),
    ("msada", ("sos", "", True)),  # a letter missing
    ("msaadaa", ("sos", "", True)),  # a letter extra
    ("masaada", ("sos", "", True)),
    ("Msaada tafadhali", ("sos", "tafadhali", True)),
    ("SAIDIA", ("sos", "", True)),
    ("saidia", ("sos", "", True)),
    ("saidiaa", ("sos", "", True)),
    ("siadia", ("sos", "", True)),  # two letters swapped
    ("Saidia mama amenipiga", ("sos", "mama amenipiga", True)),
    ("Nisaidie", ("sos", "", True)),
    ("nisaidieni", ("sos", "", True)),
    ("tusaidie", ("sos", "", True)),
    ("DHARURA", ("sos", "", True)),
    # STATUS [reference]
    ("STATUS", ("status", "", False)),
    ("status", ("status", "", False)),
    ("Status KE-7F3K2", ("status", "KE-7F3K2", False)),
    ("status ke-7f3k2", ("status", "ke-7f3k2", False)),
    ("stauts", ("status", "", False)),
    ("statsu", ("status", "", False)),
    ("statuss", ("status", "", False)),
    ("KESI", ("status", "", True)),
    ("kesi KE-7F3K2", ("status", "KE-7F3K2", True)),
    # LANG / LUGHA
    ("LANG", ("lang", "", False)),
    ("lang.", ("lang", "", False)),
    ("Language", ("lang", "", False)),
    ("langauge", ("lang", "", False)),
    ("LUGHA", ("lang", "", True)),
    ("lugha", ("lang", "", True)),
    ("lughaa", ("lang", "", True)),
    # MENU
    ("MENU", ("menu", "", False)),
    ("menu", ("menu", "", False)),
    ("Menu.", ("menu", "", False)),
    ("home", ("menu", "", False)),
    ("MENYU", ("menu", "", True)),
    ("mwanzo", ("menu", "", True)),
    # STOP / START
    ("STOP", ("stop", "", False)),
    ("stop", ("stop", "", False)),
    ("Stop!", ("stop", "", False)),
    ("unsubscribe", ("stop", "", False)),
    ("SIMAMISHA", ("stop", "", True)),
    ("sitisha", ("stop", "", True)),
    ("START", ("start", "", False)),
    ("start", ("start", "", False)),
    ("strat", ("start", "", False)),
    ("subscribe", ("start", "", False)),
    ("ANZA", ("start", "", True)),
    ("anza", ("start", "", True)),
]

# Ordinary words: answers to questions, names, places, greetings.
NOT_KEYWORDS = [
    "", "   ", "1", "0", "10", "98", "+254712345678", "KE-7F3K2",
    "held", "hello", "Hello", "helo", "helping", "Helen", "hell", "he", "hi", "Habari", "Jambo",
    "Jeddah", "Dubai", "Doha", "Qatar", "Kuwait", "Riyadh", "Nairobi", "Muscat",
    "statue",  # one letter from "status", but an ordinary English word
    "Saida",  # a common name (and Sidon, Lebanon, in Arabic): one letter from "saidia"
    "Sospeter Otieno", "Achieng Otieno", "Mary", "Halima", "Abdullah Al Saud", "Global Jobs Ltd",
    "A1234567", "Other", "Yes", "No", "Nakubali", "stops", "mens", "lung", "lang'ata",
    "Tafadhali nisaidie",  # the keyword must come first
    "my madam beat me, SOS",
]


@pytest.mark.parametrize("text,expected", MATCHES, ids=[m[0] for m in MATCHES])
def test_keywords_that_match(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text", NOT_KEYWORDS)
def test_ordinary_words_are_not_keywords(text):
    assert parse(text) is None
