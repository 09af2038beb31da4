"""USSD screens: `CON`/`END` text of at most 182 characters, long menus paged.

Paging is the renderer's business, not the flows': a menu that does not fit is split into
pages with "98. More" and "0. Back"; option numbers stay the same on every page, so a person
who knows the number may type it on any page.
"""

from __future__ import annotations

from gateway.engine import Screen

LIMIT = 182
MORE, BACK = "98", "0"


def pages(screen: Screen, more: str, back: str, limit: int = LIMIT) -> list[str]:
    """The screen's pages, each "CON ..." and at most `limit` characters."""
    if screen.end:
        return [_cut("END " + screen.text, limit)]
    lines = [f"{number}. {label}" for number, label in screen.options]
    whole = "CON " + "\n".join([screen.text, *lines])
    if len(whole) <= limit:
        return [whole]
    result, current, first = [], ["CON " + screen.text], True
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
