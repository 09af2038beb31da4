"""What Msaada says, in English and Kiswahili (config/locales/<lang>.yaml)."""

from __future__ import annotations

import string
from pathlib import Path

from config.settings import CONFIG_DIR, read_yaml

LOCALES_DIR = CONFIG_DIR / "locales"
LANGUAGES = ("en", "sw")


class Texts:
    """Every text by language and key; `get` fills in {placeholders}."""

    def __init__(self, by_language: dict[str, dict[str, str]], not_words: list[str] | None = None):
        self.by_language = by_language
        self.not_words = not_words or []  # "lang: key" of values YAML read as something else

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Texts:
        by_language, not_words = {}, []
        for lang in LANGUAGES:
            data = _flatten(read_yaml(Path(directory) / f"{lang}.yaml") or {})
            # YAML reads an unquoted Yes, No, On or Off as true/false: a menu would show "True".
            not_words += [f"{lang}: {k}" for k, v in data.items() if isinstance(v, bool) or v is None]
            by_language[lang] = {str(k): str(v).strip() for k, v in data.items()}
        return cls(by_language, not_words)

    def has(self, key: str) -> bool:
        return key in self.by_language["en"]

    def get(self, lang: str, key: str, **values) -> str:
        table = self.by_language.get(lang) or self.by_language["en"]
        text = table.get(key) or self.by_language["en"][key]
        return text.format(**values) if values else text

    def problems(self) -> list[str]:
        """Keys missing from a language, placeholders that differ between languages, and values
        that are not text."""
        found = [f"{where}: reads as true/false or nothing, not words; put the text in quotes"
                 for where in self.not_words]
        en = self.by_language["en"]
        for lang, table in self.by_language.items():
            for key in sorted(set(en) ^ set(table)):
                found.append(f"{key}: missing in {'en' if key in table else lang}")
            for key in set(en) & set(table):
                if _fields(en[key]) != _fields(table[key]):
                    found.append(f"{key}: placeholders differ between en and {lang}")
        return found


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _flatten(data: dict, prefix: str = "") -> dict[str, str]:
    """Nested YAML mappings become dotted keys: {sos: {done: x}} -> {"sos.done": x}.

    The key "_" names the mapping itself: {sos: {city: {_: prompt, other: label}}} gives
    "sos.city" and "sos.city.other".
    """
    flat = {}
    for key, value in data.items():
        name = prefix.rstrip(".") if key == "_" else f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
