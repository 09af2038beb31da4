"""USSD screens: `CON`/`END` text of at most 182 characters, long menus paged.

Paging is the renderer's business, not the flows': a menu that does not fit is split into
pages with "98. More" and "0. Back"; option numbers stay the same on every page, so a person
who knows the number may type it on any page.

A hint (why the last answer was refused) is added to the first page only where it fits, else
in its short form, else not at all: a wrong answer never moves an option to another page.

A menu with `per_page` (flows.py) is split into fixed pages instead: options 1-n on the first,
n+1-2n on the next, in every language, with the question above each page (its shorter
`more_text` where the whole one does not fit). Should a translation make such a page too
long, the menu is paged as any other rather than cut.
"""

from __future__ import annotations

from gateway.conversation.engine import Screen

LIMIT = 182
MORE, BACK = "98", "0"


def pages(screen: Screen, more: str, back: str, limit: int = LIMIT) -> list[str]:
    """The screen's pages, each "CON ..." and at most `limit` characters.

    The options are paged as if there were no hint; a hint then goes before the prompt on the
    first page where it fits (else its short form, else none), so a wrong answer never moves an
    option to another page. A screen with `per_page` gets fixed pages (the module's docstring).
    """
    if screen.end:
        return [_cut("END " + screen.text, limit)]
    shown = _fixed(screen, more, back, limit) if screen.per_page else None
    shown = shown or _paged(screen.text, screen.options, more, back, limit)
    for hint in (screen.hint, screen.short_hint) if screen.hint else ():
        with_hint = shown[0].replace("CON ", f"CON {hint}\n", 1)
        if hint and len(with_hint) <= limit:
            shown[0] = with_hint
            break
    return shown


def _paged(text: str, options: list[tuple[str, str]], more: str, back: str, limit: int) -> list[str]:
    lines = [f"{number}. {label}" for number, label in options]
    whole = "CON " + "\n".join([text, *lines])
    if len(whole) <= limit:
        return [whole]
    result, current, first = [], ["CON " + text], True
    more_line, back_line = f"{MORE}. {more}", f"{BACK}. {back}"
    for line in lines:
        footer = [more_line] if first else [back_line, more_line]
        if len("\n".join(current + [line] + footer)) > limit and len(current) > 1:
            result.append("\n".join(current + footer))
            current, first = ["CON "], False
        current.append(line)
    last = "\n".join(current + ([] if first else [back_line]))
    result.append(last.replace("CON \n", "CON ", 1))
    return [page.replace("CON \n", "CON ", 1) for page in result]


def _fixed(screen: Screen, more: str, back: str, limit: int) -> list[str] | None:
    """Pages of `screen.per_page` options each, or None when one of them cannot fit."""
    lines = [f"{number}. {label}" for number, label in screen.options]
    groups = [lines[i:i + screen.per_page] for i in range(0, len(lines), screen.per_page)] or [[]]
    result = []
    for i, group in enumerate(groups):
        footer = ([f"{BACK}. {back}"] if i else []) + ([f"{MORE}. {more}"] if i + 1 < len(groups) else [])
        fitting = [page for question in (screen.text, screen.more_text) if question
                   for page in [_join([question, *group, *footer])] if len(page) <= limit]
        if not fitting:
            return None
        result.append(fitting[0])
    return result


def _join(lines: list[str]) -> str:
    return "CON " + "\n".join(lines)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
