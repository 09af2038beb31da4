"""A person's right of access (issue 12): `flask people export PHONE|REF` gives everything held
about them, and nothing about anyone else."""

from __future__ import annotations

import json
import stat

from tests.channels import Chat
from tests.test_ussd_journeys import REGISTRATION

PHONE = "+254712345678"  # the dialler's number


def register_and_sos(dial, client, services, run_worker):
    session = dial()
    session.start()
    for value, _ in REGISTRATION[1:]:
        session.send(value)
    session = dial()
    session.start()
    for value in ["1", "1", "1"]:  # SOS; beaten or hurt; may contact me (registered: where is known)
        screen = session.send(value)
    assert screen.startswith("END "), screen
    Chat(client, services, phone="+971509999999").send("SOS someone else entirely")  # another person
    run_worker()


def test_an_export_holds_the_person_and_only_them(app, dial, client, services, run_worker, tmp_path):
    register_and_sos(dial, client, services, run_worker)
    out = tmp_path / "export.json"
    result = app.test_cli_runner().invoke(args=["people", "export", "0712345678", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = json.loads(out.read_text())
    assert data["numbers"] == [PHONE, "+966501234567"]  # the other number, proven with its code
    assert data["registration"]["full_name"] == "Achieng Otieno" and data["registration"]["id_number"] == "A1234567"
    assert len(data["cases"]) == 1 and data["cases"][0]["phone"] == PHONE
    assert data["cases"][0]["timeline"][0]["kind"] == "opened"
    text = json.dumps(data)
    assert "+971509999999" not in text and "someone else" not in text
    by_reference = app.test_cli_runner().invoke(args=["people", "export", data["cases"][0]["reference"].lower()])
    assert json.loads(by_reference.output)["registration"]["full_name"] == "Achieng Otieno"


def test_nothing_held_says_so(app, services):
    result = app.test_cli_runner().invoke(args=["people", "export", "+254700999999"])
    assert result.exit_code != 0 and "nothing is held" in result.output


def test_a_pseudonymised_case_exports_nobody_elses_rows(app, client, services, run_worker):
    """Pseudonymised cases share one placeholder number: exporting by one of their references must
    not gather the others' rows through it."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from gateway.store import retention
    from gateway.store.models import Case, CaseStatus, utcnow

    Chat(client, services, phone="+971501111111").send("SOS first person")
    Chat(client, services, phone="+971502222222").send("SOS second person")
    run_worker()
    with services.db.transaction() as session:
        session.execute(update(Case).values(status=CaseStatus.RESOLVED, resolved_at=utcnow()))
    retention.apply(services, utcnow() + timedelta(days=731))
    first, second = services.db().scalars(select(Case.reference).order_by(Case.id)).all()
    services.db.remove()
    result = app.test_cli_runner().invoke(args=["people", "export", first])
    assert second not in result.output and "+97150222" not in result.output
