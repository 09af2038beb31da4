"""The reports pages and their CSV files, driven as a browser drives them (dashboard/reports.py):
everything said in words (countries, categories, kinds, missions, cities with their country)
with the codes beside, weeks or months, the cross-table of countries and categories, what became
of the cases and how long they took per mission and per channel, the charts (SVG drawn here, no
inline style or script, a hidden count never drawn to a size), the CSV tables with names, codes
and totals, and the printable monthly report. For analysts every figure of every view comes from
one release, and the subtraction of tests/analysts.py, given all of them at once, works out no
small count.

Real app, database and Redis; cases are opened as every channel opens them (tests/analysts.py).
Existing report tests (the table `weekly`, the long CSV) live in tests/test_dashboard.py.
"""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from dashboard import charts
from gateway.cases import officers
from gateway.cases.lifecycle import NewCase, submit
from gateway.store.models import AuditEntry, Case, CaseKind, Person, PersonPhone, Registration, Role, utcnow
from tests.analysts import (PERIOD, TYPED_AGENCIES, TYPED_CITIES, TYPED_EMPLOYERS, Figures, open_cases,
                            parents_of_plan, worked_out)
from tests.rows import read
from tests.test_dashboard import _Tables, signed_in

MONTH = "2026-03"  # tests/analysts.py's cases: 28, from 2 to 22 March 2026
RIYADH, JEDDAH, DUBAI = "Embassy of Kenya, Riyadh", "Consulate of Kenya, Jeddah", "Consulate of Kenya, Dubai"


# --- a browser ----------------------------------------------------------------------------------------

def page_of(browser, path: str) -> str:
    answer = browser.get(path)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_data(as_text=True)


def tables(browser, path: str) -> dict[str, list[list[str]]]:
    return _Tables(page_of(browser, path)).tables


def rows_of(browser, path: str) -> list[list[str]]:
    answer = browser.get(path)
    assert answer.status_code == 200 and answer.mimetype == "text/csv", answer.get_data(as_text=True)[:300]
    return list(csv.reader(io.StringIO(answer.get_data(as_text=True))))


@pytest.fixture
def operator(app, services):
    return signed_in(app, services, "operator", Role.OPERATOR)


@pytest.fixture
def plan(services):
    open_cases(services)


# --- in words --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("by,first,named", [
    ("country", "Country", ["Saudi Arabia SA", "United Arab Emirates AE", "Ethiopia ET"]),
    ("city", "City", ["Riyadh, Saudi Arabia", "Dubai, United Arab Emirates", "Jeddah, Saudi Arabia",
                      "Addis Ababa, Ethiopia", "Al Kharj, Saudi Arabia", "Dammam, Saudi Arabia"]),
    ("mission", "Mission", [f"{RIYADH} sa-riyadh", f"{DUBAI} ae-dubai", f"{JEDDAH} sa-jeddah",
                            "Response Centre only (no mission)"]),
    ("category", "Category", ["Unpaid wages unpaid_wages", "Physical abuse physical_abuse",
                              "Passport confiscated passport_confiscated", "Agency charged fees agency_fees",
                              "Medical emergency medical", "Stranded, wants to return stranded"]),
    ("kind", "Kind of case", ["SOS (distress) distress", "Complaint about an agency agency_complaint"]),
    ("channel", "Channel", ["USSD ussd"]),
])
def test_the_page_says_everything_in_words_with_the_codes_beside(operator, plan, by, first, named):
    found = tables(operator, f"/dashboard/reports?by={by}&{PERIOD}")
    header, *rows, footer = found["periods"]
    assert header == [first, "2026-W10 2–8 Mar", "2026-W11 9–15 Mar", "2026-W12 16–22 Mar", "Total"]
    assert [row[0] for row in rows] == named
    assert footer == ["All", "10", "7", "11", "28"]
    for row in rows:  # every line adds up
        assert sum(int(c) for c in row[1:-1]) == int(row[-1]), row
    assert found["weekly"][0][0] == by  # the same counts by code, as tests/test_dashboard.py reads them


def test_weeks_or_months(operator, plan):
    found = tables(operator, f"/dashboard/reports?by=country&period=month&{PERIOD}")
    assert found["periods"][0] == ["Country", "2026-03 2–22 Mar 2026", "Total"]
    assert found["periods"][1] == ["Saudi Arabia SA", "20", "20"]
    whole = tables(operator, "/dashboard/reports?by=country&period=month&since=2026-03-01&until=2026-03-31")
    assert whole["periods"][0] == ["Country", "2026-03 Mar 2026", "Total"]
    # The long CSV per month, codes as stored.
    assert rows_of(operator, f"/dashboard/reports.csv?by=country&period=month&{PERIOD}") == [
        ["month", "country", "cases"], ["2026-03", "SA", "20"], ["2026-03", "AE", "7"], ["2026-03", "ET", "1"]]
    # By month, the window starts on the first of the month two months before.
    page = page_of(operator, "/dashboard/reports?period=month&until=2026-03-22")
    assert 'name="since" value="2026-01-01"' in page and "28 cases, by country and month" in page
    for bad in ("period=fortnight", "period=month&by=phone"):
        assert operator.get(f"/dashboard/reports?{bad}").status_code == 400
        assert operator.get(f"/dashboard/reports.csv?{bad}").status_code == 400


def test_the_cross_table_adds_up_to_its_rows_and_columns(operator, plan):
    header, *rows, footer = tables(operator, f"/dashboard/reports?{PERIOD}")["cross"]
    assert header == ["Country", "Unpaid wages", "Physical abuse", "Passport confiscated", "Agency charged fees",
                      "Medical emergency", "Stranded, wants to return", "Total"]
    assert rows == [["Saudi Arabia SA", "11", "5", "3", "0", "1", "0", "20"],
                    ["United Arab Emirates AE", "2", "2", "1", "2", "0", "0", "7"],
                    ["Ethiopia ET", "0", "0", "0", "0", "0", "1", "1"]]
    assert footer == ["All", "13", "7", "4", "2", "1", "1", "28"]


def test_what_became_of_the_cases_per_mission_and_per_channel(operator, plan):
    found = tables(operator, f"/dashboard/reports?{PERIOD}")
    missions = {row[0]: row[1:] for row in found["outcomes-mission"][2:]}
    # Riyadh: 13 cases, 4 waiting, 9 acknowledged (none resolved) after 1 to 8 minutes.
    assert missions[f"{RIYADH} sa-riyadh"] == ["13", "4", "9", "0", "5.0 min", "8.8 min", "—", "—"]
    assert missions["Response Centre only (no mission)"] == ["1", "1", "0", "0", "—", "—", "—", "—"]
    assert missions["All"][:4] == ["28", "8", "20", "0"]
    channels = {row[0]: row[1:] for row in found["outcomes-channel"][2:]}
    assert channels["USSD ussd"] == channels["All"] == ["28", "8", "20", "0", "4.0 min", "8.1 min", "—", "—"]


def test_resolved_cases_have_their_time_to_resolve(services, operator):
    for n, (channel, hours) in enumerate([("whatsapp", 2), ("whatsapp", 30), ("sms", 100), ("sms", None)]):
        opened = submit(services, NewCase(kind=CaseKind.DISTRESS, category="medical", phone=f"+25472400000{n}",
                                          channel=channel, country="AE", city="Dubai"))
        if hours is not None:  # resolved as an officer resolves by SMS, then its times set
            officers.resolve(services, opened.id, "+254700000100", "Diaspora Response Centre", "safe", "sms")
            with services.db.transaction() as session:
                at = utcnow() - timedelta(hours=hours)
                session.execute(update(Case).where(Case.id == opened.id).values(
                    created_at=at, acknowledged_at=at + timedelta(minutes=10), resolved_at=at + timedelta(hours=hours)))
    services.db.remove()
    channels = {row[0]: row[1:] for row in tables(operator, "/dashboard/reports")["outcomes-channel"][2:]}
    # Resolved after 2 and 30 hours: the median 16 h, the 90th percentile 2 + 0.9 x 28 h.
    assert channels["WhatsApp whatsapp"] == ["2", "0", "0", "2", "10.0 min", "10.0 min", "16.0 h", "27.2 h"]
    assert channels["SMS sms"] == ["2", "1", "0", "1", "10.0 min", "10.0 min", "4.2 days", "4.2 days"]
    rows = rows_of(operator, "/dashboard/reports.csv?table=outcomes")
    by = {(row[0], row[2]): row for row in rows[1:]}
    assert by["channel", "whatsapp"][3:] == ["2", "0", "0", "2", "2", "600", "600", "57600", "97920"]
    assert by["all", ""][3:7] == ["4", "1", "0", "3"]


def test_a_window_without_cases_says_so(app, services, operator):
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    for browser in (operator, analyst):
        page = page_of(browser, "/dashboard/reports?since=2020-01-01&until=2020-01-31&period=month")
        assert "0 cases, by country and month" in page and page.count("No cases in this period.") >= 3
        assert len(re.findall(r"<svg\b", page)) == 2
        monthly = page_of(browser, "/dashboard/reports/monthly?month=2020-01")
        assert 'data-testid="headline-cases">0<' in monthly and "No cases in this month." in monthly
        assert rows_of(browser, "/dashboard/reports.csv?table=cross&since=2020-01-01&until=2020-01-31") == [
            ["Country", "code", "Total"], ["", "", ""], ["All", "", "0"]]


# --- CSV tables --------------------------------------------------------------------------------------------

def test_the_csv_tables_hold_names_codes_and_totals(operator, plan, services):
    rows = rows_of(operator, f"/dashboard/reports.csv?table=periods&by=country&{PERIOD}")
    assert rows[0] == ["Country", "code", "2026-W10", "2026-W11", "2026-W12", "Total"]
    assert rows[1] == ["", "", "2–8 Mar", "9–15 Mar", "16–22 Mar", ""]
    assert rows[2:] == [["Saudi Arabia", "SA", "7", "5", "8", "20"], ["United Arab Emirates", "AE", "2", "2", "3", "7"],
                        ["Ethiopia", "ET", "1", "0", "0", "1"], ["All", "", "10", "7", "11", "28"]]
    cities = rows_of(operator, f"/dashboard/reports.csv?table=periods&by=city&period=month&{PERIOD}")
    assert ["Jeddah, Saudi Arabia", "Jeddah", "7", "7"] in cities and cities[-1] == ["All", "", "28", "28"]
    cross = rows_of(operator, f"/dashboard/reports.csv?table=cross&{PERIOD}")
    assert cross[0][:3] == ["Country", "code", "Unpaid wages"] and cross[1][:3] == ["", "", "unpaid_wages"]
    assert cross[2] == ["Saudi Arabia", "SA", "11", "5", "3", "0", "1", "0", "20"]
    assert cross[-1] == ["All", "", "13", "7", "4", "2", "1", "1", "28"]
    outcomes = rows_of(operator, f"/dashboard/reports.csv?table=outcomes&{PERIOD}")
    assert outcomes[0][:7] == ["of", "name", "code", "cases", "waiting", "acknowledged", "resolved"]
    assert ["mission", RIYADH, "sa-riyadh", "13", "4", "9", "0", "9", "300", "528", "", ""] in outcomes
    assert outcomes[-1][:7] == ["all", "All cases", "", "28", "8", "20", "0"]
    answer = operator.get(f"/dashboard/reports.csv?table=cross&{PERIOD}")
    assert answer.headers["Content-Disposition"] == \
        'attachment; filename="msaada-cases-by-country-and-category-20260302-20260322.csv"'
    assert operator.get(f"/dashboard/reports.csv?table=colours&{PERIOD}").status_code == 400
    exported = [e.target for e in read(services, select(AuditEntry).where(AuditEntry.action == "export_csv"))]
    assert {"table-cases-by-country-per-week", "cases-by-country-and-category", "outcomes-and-times"} <= set(exported)


def test_a_name_typed_by_the_public_is_never_a_live_formula(operator, services):
    with services.db.transaction() as session:
        person = Person(language="en", phones=[PersonPhone(phone="+254722000099")])
        session.add(Registration(person=person, full_name="Test Person", id_number="A0000099", country="SA",
                                 city="Riyadh", agency='=HYPERLINK("http://evil.example","click")',
                                 consent_at=utcnow(), channel="ussd"))
        session.flush()
        person_id = person.id
    submit(services, NewCase(kind=CaseKind.DISTRESS, category="medical", phone="+254722000099", channel="ussd",
                             country="SA", city="Riyadh", person_id=person_id))
    rows = rows_of(operator, "/dashboard/reports.csv?table=periods&by=agency")
    assert rows[2][:2] == ["'=HYPERLINK(\"http://evil.example\",\"click\")"] * 2
    assert not any(cell[:1] in ("=", "+", "-", "@") for row in rows for cell in row)


def test_the_employer_a_missing_person_report_names_is_counted_for_staff(app, services, operator):
    submit(services, NewCase(kind=CaseKind.MISSING_PERSON, category="missing_person", phone="+254722000101",
                             channel="ussd", country="SA", city="Riyadh",
                             details={"name": "Test Missing", "employer": "Abdullah Al Saud"}))
    found = tables(operator, "/dashboard/reports?by=employer")["periods"]
    assert [row[0] for row in found[1:-1]] == ["Abdullah Al Saud"]
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    assert analyst.get("/dashboard/reports?by=employer").status_code == 400
    assert "Abdullah" not in page_of(analyst, "/dashboard/reports")


# --- charts ------------------------------------------------------------------------------------------------

def contrast(colour: str, background: str = "#ffffff") -> float:
    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    high, low = sorted((luminance(colour), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_colour_of_the_charts_reads_at_4_5_to_1():
    for colour in (*charts.PALETTE, charts.OTHER, charts.INK, charts.MUTED):
        assert contrast(colour) >= 4.5, colour  # text in it on white, and white on it


def test_the_charts_are_accessible_svg_with_no_inline_style_or_script(operator, plan):
    page = page_of(operator, f"/dashboard/reports?by=category&{PERIOD}")
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    assert len(svgs) == 2
    for svg in svgs:
        ident = re.search(r'data-testid="(chart-[^"]+)"', svg).group(1)
        assert 'role="img"' in svg and f'aria-labelledby="{ident}-title {ident}-desc"' in svg
        assert re.search(rf'<title id="{ident}-title">[^<]+</title><desc id="{ident}-desc">[^<]+</desc>', svg)
    assert not re.search(r"\sstyle=", page) and not re.search(r"<script(?![^>]*\ssrc=)", page)
    assert "<title>Unpaid wages, 16–22 Mar: 6</title>" in page  # each bar says its number
    assert "every other category" in page  # six categories: the top five and the rest


def test_a_hidden_count_is_hatched_and_never_drawn_to_a_size():
    layers = charts.stack([("Saudi Arabia", [6, None, 4]), ("Ethiopia", [None, None, 0])], top=5)
    svg = str(charts.stacked_bars("t", "Cases", "test", ["W1", "W2", "W3"], layers, [10, None, 4]))
    bars = re.findall(r'<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)" fill="([^"]+)"[^>]*>'
                      r'(?:<title>([^<]*)</title>)?', svg)
    solid = [(float(h), t) for y, h, fill, t in bars if fill == charts.PALETTE[0] and t]  # (not the legend's)
    hatched = [(float(h), t) for y, h, fill, t in bars if fill.startswith("url(#") and t]
    assert [t for _, t in solid] == ["Saudi Arabia, W1: 6", "Saudi Arabia, W3: 4"]
    # W1: 10 shown in all, 6 of them Saudi Arabia's: 4 in counts hidden, together, hatched.
    # W2: everything hidden, the total too: a hatched cap of no size, marked x.
    assert [t for _, t in hatched] == ["W1: 4 in counts hidden (x), together",
                                       "W2: more, hidden (x); the total is hidden too"]
    assert hatched[0][0] == pytest.approx(solid[0][0] * 4 / 6, abs=0.2) and hatched[1][0] == 10
    assert re.findall(r'data-testid="bar-total">([^<]+)<', svg) == ["10", "x", "4"]
    bars = str(charts.horizontal_bars("h", "By country", "test", [("Saudi Arabia", 20), ("Ethiopia", None)]))
    assert re.findall(r'data-testid="bar-value">([^<]+)<', bars) == ["20", "x"]
    assert 'width="14" height="14" fill="url(#chart-h-hidden)"' in bars  # a stub, the same for any count


# --- the monthly report ------------------------------------------------------------------------------------

def test_the_monthly_report_for_the_ministry(operator, plan):
    page = page_of(operator, f"/dashboard/reports/monthly?month={MONTH}")
    assert "<h1>March 2026: cases of Kenyans abroad</h1>" in page
    assert "Cases opened from 1 to 31 March 2026 (UTC), every case" in page
    headline = dict(re.findall(r'data-testid="headline-(\w+)">([^<]+)<', page))
    assert headline == {"cases": "28", "waiting": "8", "acknowledged": "20", "resolved": "0", "ack": "4.0 min",
                        "resolve": "—"}
    found = _Tables(page).tables
    assert found["periods"][0] == ["Country", "2026-W10 2–8 Mar", "2026-W11 9–15 Mar", "2026-W12 16–22 Mar", "Total"]
    assert found["cross"][-1] == ["All", "13", "7", "4", "2", "1", "1", "28"]
    assert found["kinds"][1:] == [["SOS (distress) distress", "26"],
                                  ["Complaint about an agency agency_complaint", "2"]]
    assert {"outcomes-mission", "outcomes-channel"} <= set(found)
    assert len(re.findall(r'<svg\b', page)) == 3 and 'data-action="print"' in page
    assert "reports.css" in page and "reports.js" in page and not re.search(r"\sstyle=", page)
    assert 'href="/dashboard/reports/monthly?month=2026-02"' in page and "month=2026-04" in page


def test_the_monthly_report_is_of_the_last_whole_month_unless_asked(operator):
    first = utcnow().replace(day=1) - timedelta(days=1)
    page = page_of(operator, "/dashboard/reports/monthly")
    assert f"<h1>{first:%B %Y}: cases of Kenyans abroad</h1>" in page
    for bad in ("2026-13", "26-03", "2026-3x", "0001-01", "march"):
        assert operator.get(f"/dashboard/reports/monthly?month={bad}").status_code == 400, bad


def test_a_mission_officers_monthly_report_covers_their_mission_only(app, services, plan):
    riyadh = signed_in(app, services, "riyadh1", Role.MISSION, "sa-riyadh")
    page = page_of(riyadh, f"/dashboard/reports/monthly?month={MONTH}")
    assert f"the cases of {RIYADH}" in page and 'data-testid="headline-cases">13<' in page
    assert [row[0] for row in _Tables(page).tables["outcomes-mission"][2:]] == [f"{RIYADH} sa-riyadh", "All"]


# --- for analysts: one release, nothing to work out ------------------------------------------------------

def figure(text: str) -> int | None:
    return None if text == "x" else int(text or 0)


def code(named: str, by: str) -> str | None:
    """The key a row names: the code beside its name, or the name of what has none."""
    if by in ("country", "mission", "category", "kind", "channel"):
        return named.rsplit(" ", 1)[1] if " " in named and not named.startswith("Response Centre only") else None
    return named


def shown_on_pages(browser) -> Figures:
    """Every figure the reports pages show for tests/analysts.py's period, by every dimension, per
    week and per month, the cross-table, the outcomes and the monthly report."""
    figures = Figures()
    columns = [c or None for c in rows_of(browser, f"/dashboard/reports.csv?table=cross&{PERIOD}")[1][2:-1]]
    for period in ("week", "month"):
        for by in ("country", "city", "mission", "category", "kind", "channel", "agency"):
            found = tables(browser, f"/dashboard/reports?by={by}&period={period}&{PERIOD}")
            header, *rows, footer = found["weekly"]  # the code table of the same counts
            periods = header[1:-1]
            for key, *cells, total in rows:
                key = {RIYADH: "sa-riyadh", JEDDAH: "sa-jeddah", DUBAI: "ae-dubai", "(unknown)": None}.get(key, key)
                figures.add(("key", by, key), figure(total))
                for p, cell in zip(periods, cells):
                    figures.add(("cell", by, key, p), figure(cell))
            figures.add(("total",), figure(footer[-1]))
            for p, cell in zip(periods, footer[1:-1]):
                figures.add(("week", p), figure(cell))
            # The labelled table says the same.
            assert [[figure(c) for c in row[1:]] for row in found["periods"][1:]] == \
                [[figure(c) for c in row[1:]] for row in found["weekly"][1:]], by
            header, *rows, footer = found["cross"]  # the categories across: by code in the CSV's second line
            for named, *cells, total in rows:
                country = code(named, "country")
                figures.add(("key", "country", country), figure(total))
                for category, cell in zip(columns, cells):
                    figures.add(("key", "country_category", (country, category)), figure(cell))
            for of in ("mission", "channel"):
                for named, cases, waiting, acknowledged, resolved, *times in found[f"outcomes-{of}"][2:]:
                    key = code(named, of) if named != "All" else "All"
                    if key == "All":
                        figures.add(("total",), figure(cases))
                        names = {o: ("key", "outcome", o) for o in ("waiting", "acknowledged", "resolved")}
                    else:
                        figures.add(("key", of, key), figure(cases))
                        names = {o: ("key", f"{of}_outcome", (key, o)) for o in ("waiting", "acknowledged", "resolved")}
                    for o, value in zip(("waiting", "acknowledged", "resolved"), (waiting, acknowledged, resolved)):
                        figures.add(names[o], figure(value))
                    if figure(resolved) is None:
                        assert times[2:] == ["—", "—"], named
                    if of == "channel" and None in (figure(acknowledged), figure(resolved)):
                        assert times[:2] == ["—", "—"], named
    monthly = _Tables(page_of(browser, f"/dashboard/reports/monthly?month={MONTH}")).tables
    for named, *cells, total in monthly["cross"][1:-1]:  # March is the window of PERIOD, whole days apart
        figures.add(("key", "country", code(named, "country")), figure(total))
    return figures


def test_an_analysts_pages_show_no_small_count_and_none_can_be_worked_out(app, services, operator, plan):
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    figures = shown_on_pages(analyst)
    exact = shown_on_pages(operator)
    assert figures.shown[("total",)] == 28 and figures.small(3) == [], figures.small(3)
    assert exact.small(3) and None not in exact.shown.values()  # staff see every figure as it is
    crossed = {name: value for name, value in figures.shown.items() if name[1:2] == ("country_category",)}
    assert None in crossed.values() and crossed[("key", "country_category", ("SA", "unpaid_wages"))] == 11
    for name, value in figures.shown.items():  # what is shown is exact (typed cities are "other" to analysts)
        if value is not None and name in exact.shown:
            assert exact.shown[name] == value, name
    pinned = worked_out(figures, parents_of_plan())
    assert {name: value for name, value in pinned.items() if 0 < value < 3} == {}
    page = page_of(analyst, f"/dashboard/reports?{PERIOD}")
    assert "The cross-table and the outcomes are counted from the same cases and hidden by the same rule" in \
        " ".join(page.split())
    # The CSV tables are the page's.
    for by in ("country", "city"):
        table = tables(analyst, f"/dashboard/reports?by={by}&{PERIOD}")["periods"]
        rows = rows_of(analyst, f"/dashboard/reports.csv?table=periods&by={by}&{PERIOD}")
        assert [[figure(c) for c in row[2:]] for row in rows[2:]] == \
            [[figure(c) for c in row[1:]] for row in table[1:]], by


def test_an_analysts_reports_name_nothing_typed(app, services, plan):
    analyst = signed_in(app, services, "analyst", Role.ANALYST)
    seen = [page_of(analyst, f"/dashboard/reports/monthly?month={MONTH}")]
    for by in ("country", "city", "agency"):
        seen.append(page_of(analyst, f"/dashboard/reports?by={by}&period=month&{PERIOD}"))
        for table in ("periods", "cross", "outcomes"):
            answer = analyst.get(f"/dashboard/reports.csv?table={table}&by={by}&{PERIOD}")
            seen.append(answer.get_data(as_text=True))
    text = html.unescape(" ".join(seen)).lower()
    for typed in (*TYPED_EMPLOYERS, *TYPED_AGENCIES, *TYPED_CITIES):
        assert typed.lower() not in text, typed
    assert "elsewhere in saudi arabia" in text and "not in the regulator's register" in text
    monthly = seen[0]
    assert 'data-testid="hidden-note"' in monthly and "Counts below 3 are hidden" in monthly
