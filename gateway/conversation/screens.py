"""USSD screens: `CON`/`END` text of at most 182 characters, long menus paged.

Paging is the renderer's business, not the flows': a menu that does not fit is split into
pages with "98. More" and "0. Back"; option numbers stay the same on every page, so a person
who knows the number may type it on any page.
"""

from __future__ import annotations

from gateway.conversation.engine import Screen

LIMIT = 182
MORE, BACK = "98", "0"


def pages(screen: Screen, more: str, back: str, limit: int = LIMIT) -> list[str]:
    """The screen's pages, each "CON ..." and at most `limit` characters.

    A hint goes before the prompt when the first page still holds the prompt and an option
    with it; otherwise the hint is left out (the prompt alone says what to do).
    """
    if screen.end:
        return [_cut("END " + screen.text, limit)]
    if screen.hint:
        with_hint = _paged(f"{screen.hint}\n{screen.text}", screen.options, more, back, limit)
        if len(with_hint[0]) <= limit:
            return with_hint
    return _paged(screen.text, screen.options, more, back, limit)


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


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
