"""Charts for the reports, drawn here as SVG: nothing is fetched from elsewhere and no script runs
(the Content-Security-Policy allows neither inline script nor inline style; SVG presentation
attributes such as fill= are neither).

Two kinds: bars per period, stacked by a dimension's busiest values and "other"
(`stacked_bars`), and a dimension's totals as horizontal bars (`horizontal_bars`). Each chart is
an image to assistive technology (role="img", a <title> and a <desc>); its numbers are in the
table beside it, and each bar says its own in a tooltip (<title>).

A count hidden from an analyst (None) is never drawn as a height, which would be a guess: a bar
that holds hidden counts shows what is known (its shown parts, and what its shown total leaves
for the hidden ones together, hatched) and is marked x; a bar whose total is hidden ends in a
hatched cap of no size and an x.

Every colour reads at 4.5:1 or more against white (text in it, or white text on it); stacked
parts are also parted by a white line, so that neighbours tell apart in grey print.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#1f5f99", "#a34700", "#1d7044", "#8e2a6e", "#5a3e9b", "#0e6a75")  # the busiest values
OTHER = "#4d5763"  # the rest together, and the hatching of hidden counts
INK, MUTED, GRID, BACKGROUND = "#1d232b", "#555f6b", "#dde2e8", "#ffffff"
HIDDEN = "x"  # as the tables write a hidden count
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
CHAR = 6.6  # the width of a character of 12 px text, near enough to lay labels out


@dataclass(frozen=True)
class Series:
    """One layer of stacked bars: a value per period (None: hidden)."""

    label: str
    values: tuple[int | None, ...]
    colour: str


def stack(rows: list[tuple[str, list[int | None]]], top: int = 5, other: str = "other") -> list[Series]:
    """The layers of a stacked chart: the first `top` rows (the busiest first) each in a colour of
    its own, and the others added up as `other` (hidden ones left out: the bar's hatched part
    holds them)."""
    layers = [Series(label, tuple(values), PALETTE[n % len(PALETTE)]) for n, (label, values) in enumerate(rows[:top])]
    rest = rows[top:]
    if rest:
        periods = len(rest[0][1])
        added = tuple(sum(values[i] or 0 for _, values in rest) for i in range(periods))
        layers.append(Series(other, added, OTHER))
    return layers


def stacked_bars(chart_id: str, title: str, description: str, periods: list[str], layers: list[Series],
                 totals: list[int | None], *, width: int = 760, height: int = 280) -> Markup:
    """Bars per period, one above the other per layer, with each period's total above its bar.

    Args:
        chart_id: unique on the page (it names the chart's title, description and hatching).
        title: what the chart shows, e.g. "Cases per week, by country".
        description: a sentence more for those who cannot see it.
        periods: the periods' labels, in order.
        layers: from `stack`, each with a value per period.
        totals: each period's total (None: hidden).
    """
    ident = _ident(chart_id)
    hidden_any = None in totals or any(None in layer.values for layer in layers)
    legend_rows = _legend_rows([layer.label for layer in layers] + ([f"hidden ({HIDDEN})"] if hidden_any else []),
                               width - 60)
    left, right, top, bottom = 52, 12, 22, 40 + 18 * len(legend_rows)
    plot_w, plot_h = width - left - right, height - top - 40
    known = [sum(layer.values[i] or 0 for layer in layers) for i in range(len(periods))]
    highest = max([*(t for t in totals if t is not None), *known, 1])
    ticks, scale_top = _ticks(highest)
    y = lambda value: top + plot_h - plot_h * value / scale_top  # noqa: E731
    band = plot_w / max(len(periods), 1)
    bar = max(min(band * 0.7, 48), 2)
    out = _open(ident, title, description, width, height - 40 + bottom)
    out += _axis_y(ticks, left, width - right, y)
    every = max(1, math.ceil(max((len(p) for p in periods), default=1) * CHAR / band))
    for i, period in enumerate(periods):
        x = left + band * i + (band - bar) / 2
        base, hidden = 0, False
        for layer in layers:
            value = layer.values[i]
            if value is None:
                hidden = True
                continue
            if value:
                out.append(_rect(x, y(base + value), bar, y(base) - y(base + value), layer.colour,
                                 f"{layer.label}, {period}: {value:,}"))
                base += value
        total = totals[i]
        if total is None or (hidden and total > base):
            out.append(_hidden_part(ident, x, y, base, total, bar, period))
        label = HIDDEN if total is None else f"{total:,}"
        if band >= len(label) * CHAR + 2:
            out.append(_text(x + bar / 2, y(max(base, total or 0)) - (14 if total is None else 4), label, size=11,
                             anchor="middle", testid="bar-total"))
        if i % every == 0:
            out.append(_text(left + band * i + band / 2, top + plot_h + 16, period, size=11, anchor="middle",
                             fill=MUTED))
    out += _legend(ident, legend_rows, left, top + plot_h + 34,
                   {layer.label: layer.colour for layer in layers})
    out.append("</svg>")
    return Markup("".join(out))


def horizontal_bars(chart_id: str, title: str, description: str, rows: list[tuple[str, int | None]], *,
                    width: int = 760) -> Markup:
    """A dimension's totals, a bar each, longest first as given; a hidden one is a hatched stub
    marked x."""
    ident = _ident(chart_id)
    label_w = min(max((len(label) for label, _ in rows), default=4) * CHAR + 8, 230)
    left, right, top, row_h = label_w + 8, 56, 8, 22
    height = top * 2 + row_h * max(len(rows), 1) + (18 if any(v is None for _, v in rows) else 0)
    plot_w = width - left - right
    highest = max([*(v for _, v in rows if v is not None), 1])
    out = _open(ident, title, description, width, height)
    for n, (label, value) in enumerate(rows):
        y0 = top + row_h * n
        out.append(_text(left - 8, y0 + row_h / 2 + 4, _shorten(label, label_w), size=12, anchor="end",
                         title=label))
        if value is None:
            out.append(f'<rect x="{left:.1f}" y="{y0 + 4:.1f}" width="14" height="{row_h - 8}" '
                       f'fill="url(#{ident}-hidden)" stroke="{OTHER}" stroke-width="1" data-hidden="true">'
                       f'<title>{escape(label)}: hidden ({HIDDEN})</title></rect>')
            out.append(_text(left + 20, y0 + row_h / 2 + 4, HIDDEN, size=12, testid="bar-value"))
            continue
        length = plot_w * value / highest
        if value:
            out.append(_rect(left, y0 + 4, max(length, 1), row_h - 8, PALETTE[0], f"{label}: {value:,}"))
        out.append(_text(left + length + 6, y0 + row_h / 2 + 4, f"{value:,}", size=12, testid="bar-value"))
    if any(v is None for _, v in rows):
        out.append(_text(left, height - 6, f"hatched, {HIDDEN}: hidden (too few to show)", size=11, fill=MUTED))
    out.append("</svg>")
    return Markup("".join(out))


# --- pieces -------------------------------------------------------------------------------------------

def _ident(chart_id: str) -> str:
    return "chart-" + re.sub(r"[^a-z0-9-]", "-", chart_id.lower())


def _open(ident: str, title: str, description: str, width: int, height: float) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height:.0f}" '
            f'role="img" aria-labelledby="{ident}-title {ident}-desc" data-testid="{ident}" '
            f'font-family="{FONT}" font-size="12" fill="{INK}">',
            f'<title id="{ident}-title">{escape(title)}</title><desc id="{ident}-desc">{escape(description)}</desc>',
            f'<defs><pattern id="{ident}-hidden" width="6" height="6" patternUnits="userSpaceOnUse" '
            f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{BACKGROUND}"/>'
            f'<line x1="0" y1="0" x2="0" y2="6" stroke="{OTHER}" stroke-width="2"/></pattern></defs>',
            f'<rect width="{width}" height="{height:.0f}" fill="{BACKGROUND}"/>']


def _hidden_part(ident: str, x: float, y, base: int, total: int | None, bar: float, period: str) -> str:
    """What a bar's shown total leaves for its hidden parts, hatched; or, the total hidden too, a
    cap of no size."""
    if total is None:
        top, height, says = y(base) - 10, 10, f"{period}: more, hidden ({HIDDEN}); the total is hidden too"
    else:
        top, height = y(total), y(base) - y(total)
        says = f"{period}: {total - base:,} in counts hidden ({HIDDEN}), together"
    return (f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" height="{max(height, 1):.1f}" '
            f'fill="url(#{ident}-hidden)" stroke="{OTHER}" stroke-width="1" data-hidden="true">'
            f'<title>{escape(says)}</title></rect>')


def _rect(x: float, y: float, width: float, height: float, colour: str, says: str) -> str:
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{max(height, 0):.1f}" fill="{colour}" '
            f'stroke="{BACKGROUND}" stroke-width="1"><title>{escape(says)}</title></rect>')


def _text(x: float, y: float, words: str, size: int = 12, anchor: str = "start", fill: str = INK,
          title: str | None = None, testid: str | None = None) -> str:
    extra = f' data-testid="{testid}"' if testid else ""
    inner = escape(words) + (Markup(f"<title>{escape(title)}</title>") if title and title != words else "")
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}"{extra}>'
            f'{inner}</text>')


def _axis_y(ticks: list[int], left: float, right: float, y) -> list[str]:
    out = []
    for tick in ticks:
        out.append(f'<line x1="{left}" x2="{right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="{GRID}" '
                   f'stroke-width="1"/>')
        out.append(_text(left - 6, y(tick) + 4, f"{tick:,}", size=11, anchor="end", fill=MUTED))
    return out


def _ticks(highest: int) -> tuple[list[int], int]:
    """Round steps from 0 to at least `highest`, four or five of them."""
    raw = max(highest / 4, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(int(step), 1)
    top = step * math.ceil(highest / step)
    return list(range(0, top + 1, step)), top


def _legend_rows(labels: list[str], room: float) -> list[list[str]]:
    rows, row, used = [], [], 0.0
    for label in labels:
        needed = 22 + len(label) * CHAR + 16
        if row and used + needed > room:
            rows.append(row)
            row, used = [], 0.0
        row.append(label)
        used += needed
    return rows + ([row] if row else [])


def _legend(ident: str, rows: list[list[str]], left: float, top: float, colours: dict[str, str]) -> list[str]:
    out = []
    for n, row in enumerate(rows):
        x, y = left, top + 18 * n
        for label in row:
            fill = colours.get(label, f"url(#{ident}-hidden)")
            stroke = f' stroke="{OTHER}" stroke-width="1"' if label not in colours else ""
            out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{fill}"{stroke}/>')
            out.append(_text(x + 17, y, label, size=12))
            x += 22 + len(label) * CHAR + 16
    return out


def _shorten(label: str, room: float) -> str:
    most = max(int(room / CHAR), 4)
    return label if len(label) <= most else label[:most - 1] + "…"
