"""Recruitment agencies: `flask agencies import FILE.csv` (good rows load, bad rows are reported by
line number, a licence is updated in place), and "check a recruitment agency" by USSD and chat in
English and Kiswahili: licensed until, NOT licensed (revoked, suspended, expired, unknown), a short
choice when several names match, and a second try when too many do."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from config.settings import CONFIG_DIR
from gateway.conversation.diaspora import NAME_SHOWN
from gateway.conversation.engine import Screen
from gateway.conversation.screens import LIMIT, pages
from gateway.people import agencies
from gateway.store.models import Agency, AgencyStatus
from tests.channels import Chat
from tests.test_chat_journeys import LANGS, TRANSPORT_IDS, TRANSPORTS, shows
from tests.test_chat_journeys import speak as speak_chat
from tests.test_ussd_journeys import speak as speak_ussd

pytestmark = pytest.mark.one_database  # menus, adapters, pages: the same on either database

SAMPLE = CONFIG_DIR / "agencies-sample.csv"
AGENCY_MENU = ["5", "2"]  # main menu 5 (More services), then 2 (Check a recruitment agency)


def import_file(app, path):
    return app.test_cli_runner().invoke(args=["agencies", "import", str(path)])


def all_agencies(services) -> dict[str, Agency]:
    services.db.remove()
    try:
        return {a.licence_number: a for a in services.db().scalars(select(Agency))}
    finally:
        services.db.remove()


@pytest.fixture
def listed(app, services):
    """The shipped sample list, loaded as an operator would."""
    result = import_file(app, SAMPLE)
    assert result.exit_code == 0, result.output
    return services


# --- the import -------------------------------------------------------------------------------------

def test_the_sample_file_loads_whole(app, services):
    result = import_file(app, SAMPLE)
    assert result.exit_code == 0, result.output
    assert "agencies loaded: 7 (7 new, 0 updated), 0 bad row(s) skipped" in result.output
    found = all_agencies(services)
    assert (found["RA/2018/0456"].name, found["RA/2018/0456"].status) == ("Sunrise Recruitment Agency",
                                                                          AgencyStatus.REVOKED)
    assert found["RA/2019/0001"].expires_on == date(2027, 3, 31)
    assert found["RA/2019/0001"].name_folded == "global jobs ltd"


def test_bad_rows_are_reported_by_line_and_the_rest_load(app, services, tmp_path):
    path = tmp_path / "agencies.csv"
    path.write_text(
        "Licence Number,Name,Status,Expiry\n"       # 1: a header
        "RA/1,Good One Ltd,valid,2027-01-31\n"       # 2
        "RA/2,Bad Status Ltd,cancelled,2027-01-31\n"  # 3
        "RA/3,Bad Date Ltd,valid,31/01/2027\n"       # 4
        "\n"                                          # 5: blank, skipped silently
        "RA/4,Too Few Columns\n"                      # 6
        ",No Licence Ltd,valid,2027-01-31\n"          # 7
        "RA/5,No Expiry Ltd,valid,\n"                 # 8: a valid licence needs an expiry
        "ra/ 6,\"Revoked, Without Expiry Ltd\",REVOKED,\n",  # 9: fine; the licence is normalised
        encoding="utf-8")
    result = import_file(app, path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines if line.startswith("line ")] == [
        "line 3", "line 4", "line 6", "line 7", "line 8"]
    assert "line 3: status must be valid, suspended or revoked, not 'cancelled'" in lines
    assert "line 4: expiry must be a date like 2027-03-31, not '31/01/2027'" in lines
    assert "agencies loaded: 2 (2 new, 0 updated), 5 bad row(s) skipped" in result.output
    found = all_agencies(services)
    assert sorted(found) == ["RA/1", "RA/6"]
    assert (found["RA/6"].name, found["RA/6"].status, found["RA/6"].expires_on) == (
        "Revoked, Without Expiry Ltd", AgencyStatus.REVOKED, None)


def test_a_new_list_updates_licences_in_place(app, services, tmp_path):
    import_file(app, SAMPLE)
    path = tmp_path / "update.csv"
    path.write_text("RA/2019/0001,Global Jobs Limited,revoked,2027-03-31\n"
                    "RA/2099/0001,Brand New Agency,valid,2030-01-31\n", encoding="utf-8")  # no header
    result = import_file(app, path)
    assert "agencies loaded: 2 (1 new, 1 updated), 0 bad row(s) skipped" in result.output, result.output
    found = all_agencies(services)
    assert len(found) == 8
    assert (found["RA/2019/0001"].name, found["RA/2019/0001"].status) == ("Global Jobs Limited", AgencyStatus.REVOKED)
    assert found["RA/2019/0001"].name_folded == "global jobs limited"


def test_a_large_file_shows_progress_and_loads_in_batches(app, services, tmp_path):
    path = tmp_path / "large.csv"
    rows = [f"RA/L/{i:05d},Agency Number {i},valid,2030-01-31" for i in range(2500)]
    rows[1234] = "RA/L/BAD,Broken,valid,never"  # line 1235
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = import_file(app, path)
    assert result.exit_code == 0, result.output
    assert "... 1000 rows read" in result.output and "... 2000 rows read" in result.output
    assert "line 1235: expiry must be a date" in result.output
    assert "agencies loaded: 2499 (2499 new, 0 updated), 1 bad row(s) skipped" in result.output
    assert len(all_agencies(services)) == 2499


def test_if_empty_loads_a_demo_list_only_once(app, services, tmp_path):
    first = app.test_cli_runner().invoke(args=["agencies", "import", "--if-empty", str(SAMPLE)])
    assert "agencies loaded: 7" in first.output
    path = tmp_path / "other.csv"
    path.write_text("RA/X/1,Another Agency,valid,2030-01-31\n")
    again = app.test_cli_runner().invoke(args=["agencies", "import", "--if-empty", str(path)])
    assert again.exit_code == 0 and "already loaded" in again.output
    assert len(all_agencies(services)) == 7


def test_a_missing_file_is_refused(app, tmp_path):
    result = import_file(app, tmp_path / "nowhere.csv")
    assert result.exit_code != 0 and "does not exist" in result.output


# --- the lookup ------------------------------------------------------------------------------------

def test_find_by_licence_or_by_words_of_the_name(listed):
    session = listed.db()
    assert [a.name for a in agencies.find(session, "ra/2018/0456")] == ["Sunrise Recruitment Agency"]
    assert [a.name for a in agencies.find(session, "RA / 2018 / 0456")] == ["Sunrise Recruitment Agency"]
    assert [a.name for a in agencies.find(session, "sunrise")] == ["Sunrise Gulf Careers",
                                                                   "Sunrise Recruitment Agency"]
    assert [a.name for a in agencies.find(session, "GLOBAL jobs")] == ["Global Jobs Ltd"]
    assert [a.name for a in agencies.find(session, "2018/0456")] == ["Sunrise Recruitment Agency"]
    assert agencies.find(session, "zz") == [] and agencies.find(session, "Nobody Such") == []
    assert agencies.find(session, "100%") == []  # LIKE wildcards are plain characters


def test_licensed_means_valid_and_not_expired(listed):
    found = {a.licence_number: a for a in listed.db().scalars(select(Agency))}
    today = date(2026, 11, 22)
    assert agencies.licensed(found["RA/2019/0001"], today)
    assert not agencies.licensed(found["RA/2017/0033"], today)  # valid, but expired in 2024
    assert not agencies.licensed(found["RA/2021/0789"], today)  # suspended
    assert not agencies.licensed(found["RA/2019/0001"], date(2027, 4, 1))


# --- by USSD ---------------------------------------------------------------------------------------

def ussd_check(dial, query: str, *more: str) -> str:
    session = dial()
    session.start()
    for value in [*AGENCY_MENU, query, *more]:
        session.send(value)
    return session.last


@pytest.mark.parametrize("lang", LANGS)
def test_a_job_seeker_learns_by_ussd_that_a_licence_was_revoked(dial, listed, lang):
    speak_ussd(dial, lang)
    texts = listed.texts
    session = dial()
    assert texts.get(lang, "main.menu.services") in session.start()
    assert texts.get(lang, "services.menu") in session.send("5")
    assert texts.get(lang, "agency.query") in session.send("2")
    screen = session.send("RA/2018/0456")
    assert screen == "END " + texts.get(lang, "agency.not_licensed", name="Sunrise Recruitment Agency (RA/2018/0456)",
                                        reason=texts.get(lang, "agency.reason.revoked"))
    assert "NOT licensed" in screen if lang == "en" else "HANA leseni" in screen


@pytest.mark.parametrize("lang", LANGS)
def test_a_licensed_agency_by_name_says_until_when(dial, listed, lang):
    speak_ussd(dial, lang)
    screen = ussd_check(dial, "global jobs")
    assert screen == "END " + listed.texts.get(lang, "agency.licensed", name="Global Jobs Ltd (RA/2019/0001)",
                                               until="2027-03")


@pytest.mark.parametrize("query, reason", [("gulf bridge", "suspended"), ("Amani", "expired")])
def test_suspended_and_expired_licences_are_not_licensed(dial, listed, query, reason):
    screen = ussd_check(dial, query)
    assert "NOT licensed" in screen and listed.texts.get("en", f"agency.reason.{reason}") in screen
    assert "do not pay any fees" in screen


@pytest.mark.parametrize("lang", LANGS)
def test_an_unknown_agency_is_not_licensed(dial, listed, lang):
    speak_ussd(dial, lang)
    screen = ussd_check(dial, "Fly By Night Agency")
    assert screen == "END " + listed.texts.get(lang, "agency.unknown", query="Fly By Night Agency")


@pytest.mark.parametrize("lang", LANGS)
def test_several_matches_give_a_short_choice(dial, listed, lang):
    speak_ussd(dial, lang)
    session = dial()
    session.start()
    for value in AGENCY_MENU:
        session.send(value)
    screen = session.send("sunrise")
    assert screen.startswith("CON " + listed.texts.get(lang, "agency.choose"))
    assert "1. Sunrise Gulf Careers" in screen and "2. Sunrise Recruitment Agency" in screen
    final = session.send("2")
    assert final.startswith("END Sunrise Recruitment Agency (RA/2018/0456)")


def test_too_many_matches_ask_for_more_of_the_name(dial, app, services, tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("\n".join(f"RA/M/{i},Star Agency {i},valid,2030-01-31" for i in range(8)) + "\n")
    import_file(app, path)
    session = dial()
    session.start()
    for value in AGENCY_MENU:
        session.send(value)
    assert services.texts.get("en", "agency.query_again") in session.send("star agency")
    assert session.send("star agency 7").startswith("END Star Agency 7 (RA/M/7): Licensed until 2030-01")


def test_a_too_short_query_is_asked_again_with_a_hint(dial, listed):
    session = dial()
    session.start()
    for value in AGENCY_MENU:
        session.send(value)
    assert listed.texts.get("en", "hint.agency_query") in session.send("a")


@pytest.mark.parametrize("lang", LANGS)
def test_every_agency_answer_fits_one_ussd_screen(services, lang):
    texts = services.texts
    name = "N" * NAME_SHOWN + " (" + "L" * 40 + ")"  # the longest name shown, the longest licence
    answers = [("agency.licensed", {"name": name, "until": "2027-03"}),
               ("agency.unknown", {"query": "Q" * NAME_SHOWN})]
    answers += [("agency.not_licensed", {"name": name, "reason": texts.get(lang, f"agency.reason.{reason}")})
                for reason in ("revoked", "suspended", "expired")]
    for key, values in answers:
        text = "END " + texts.get(lang, key, **values)
        assert len(text) <= LIMIT and pages(Screen(text[4:], end=True), "", "") == [text], (key, len(text))


# --- by chat ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", TRANSPORTS, ids=TRANSPORT_IDS)
@pytest.mark.parametrize("lang", LANGS)
def test_checking_an_agency_by_chat(client, listed, lang, transport):
    channel, provider = transport
    chat = Chat(client, listed, channel=channel, provider=provider)
    speak_chat(listed, chat, lang)
    shows(listed, chat, lang, chat.send("Hello"), "main.menu", "main.menu.services")
    shows(listed, chat, lang, chat.send("5"), "services.menu")
    shows(listed, chat, lang, chat.send("2"), "agency.query")
    shows(listed, chat, lang, chat.send("sunrise"), "agency.choose")
    shows(listed, chat, lang, chat.send("2"), "agency.not_licensed")
    shows(listed, chat, lang, chat.send("Hello"), "main.menu")  # the answer ended the conversation
    for value in ("5", "2"):
        chat.send(value)
    reply = chat.send("RA/2019/0001")
    assert reply == listed.texts.get(lang, "agency.licensed", name="Global Jobs Ltd (RA/2019/0001)", until="2027-03")


def test_expiry_today_is_still_licensed(dial, app, services, tmp_path):
    path = tmp_path / "today.csv"
    today = date.today()
    path.write_text(f"RA/T/1,Today Agency,valid,{today.isoformat()}\n"
                    f"RA/T/2,Yesterday Agency,valid,{(today - timedelta(days=1)).isoformat()}\n")
    import_file(app, path)
    assert "Licensed until" in ussd_check(dial, "RA/T/1")
    assert "NOT licensed" in ussd_check(dial, "RA/T/2")
