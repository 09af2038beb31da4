"""Logging for every Msaada process: one format, and no phone number in any line.

Code logs ids, references and counts, never a name or message text (tests/test_logs.py checks
that over the whole suite). Phone numbers can still arrive inside something logged whole (an
exception, a library's message), so every line is masked as it is written: `+254712345678`
becomes `+2547…678`, enough to tell two numbers apart in an incident, not enough to call one.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
# Eight digits or more in a row, with or without "+": a phone number as Msaada stores and sends
# it (an id that long is masked too; better than a number left in clear). Not inside a word, so
# provider ids such as Twilio's SM0123... stay whole.
PHONE = re.compile(r"(?<![\w…])(\+?)(\d{8,})(?!\w)")
QUIET = {
    "twilio.http_client": logging.WARNING,  # at INFO it logs every request it makes
    "urllib3": logging.WARNING,
}


def mask(text: str) -> str:
    """`text` with every phone number cut down to its first four digits and last three."""
    def cut(match: re.Match) -> str:
        digits = match.group(2)
        return f"{match.group(1)}{digits[:4]}…{digits[-3:]}"
    return PHONE.sub(cut, text)


class MaskingFormatter(logging.Formatter):
    """Formats as usual, with the message (arguments filled in) and any traceback masked."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)  # other handlers see the record as it was
        record.msg, record.args = mask(record.getMessage()), None
        if record.exc_info:
            record.exc_text = mask(self.formatException(record.exc_info))
            record.exc_info = None
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return super().format(record)


def setup(level: int = logging.INFO) -> None:
    """Log to stderr through the masking formatter. Called by every entry point (the app, the
    worker); a second call changes nothing."""
    root = logging.getLogger()
    if not any(getattr(handler, "msaada", False) for handler in root.handlers):
        handler = logging.StreamHandler()
        handler.msaada = True
        handler.setFormatter(MaskingFormatter(FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(quiet)
