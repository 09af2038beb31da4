"""`flask users create|list|disable|password`: the dashboard's accounts, made, changed and ended from
the command line, then used (or refused) by a browser signing in."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from gateway.store.models import AuditEntry, Role, User
from tests.test_dashboard import PASSWORD, login

pytestmark = pytest.mark.one_database  # menus, adapters, pages: the same on either database

MISSIONS = ("sa-riyadh, sa-jeddah, ae-abudhabi, ae-dubai, qa-doha, kw-kuwait, om-muscat, bh-manama, lb-beirut, "
            "jo-amman")


def users(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=["users", *args], input=input)


def create(app, username: str, role: str, *extra: str, password: str = PASSWORD):
    return users(app, "create", username, "--role", role, *extra, "--password", password)


def rows(services) -> list[tuple]:
    services.db.remove()
    try:
        return [(u.username, u.role, u.mission_id, u.active) for u in
                services.db().scalars(select(User).order_by(User.username))]
    finally:
        services.db.remove()


def audit(services) -> list[tuple]:
    services.db.remove()
    try:
        return [(e.actor, e.action, e.target, e.data) for e in
                services.db().scalars(select(AuditEntry).order_by(AuditEntry.id))]
    finally:
        services.db.remove()


def test_an_operator_made_on_the_command_line_can_sign_in(app, services, client):
    result = create(app, " Amina ", "operator")
    assert (result.exit_code, result.output) == (0, "user amina created (operator)\n")
    assert rows(services) == [("amina", Role.OPERATOR, None, True)]
    services.db.remove()
    stored = services.db().scalar(select(User.password_hash))
    services.db.remove()
    assert PASSWORD not in stored and check_password_hash(stored, PASSWORD)
    assert audit(services) == [("cli", "user_created", "amina", {"role": "operator", "mission": None})]
    response = login(client, "amina")
    assert response.status_code == 302 and client.get("/dashboard/queue").status_code == 200


def test_the_password_may_be_typed_at_the_prompt(app, services, client):
    result = users(app, "create", "baraka", "--role", "admin", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert rows(services) == [("baraka", Role.ADMIN, None, True)]
    assert login(client, "baraka").status_code == 302


def test_a_mission_officer_needs_a_mission_of_the_directory(app, services, client):
    for extra in ((), ("--mission", "xx-nowhere"), ("--mission", "")):
        result = create(app, "riyadh1", "mission", *extra)
        assert result.exit_code == 2, (extra, result.output)
        assert f"--mission must be one of: {MISSIONS}" in result.output
    assert rows(services) == []

    result = create(app, "riyadh1", "mission", "--mission", "sa-riyadh")
    assert (result.exit_code, result.output) == (0, "user riyadh1 created (mission of sa-riyadh)\n")
    assert rows(services) == [("riyadh1", Role.MISSION, "sa-riyadh", True)]
    login(client, "riyadh1")
    assert "riyadh1 · mission · Embassy of Kenya, Riyadh" in client.get("/dashboard/queue").get_data(as_text=True)


@pytest.mark.parametrize("role", ["operator", "analyst", "admin"])
def test_only_a_mission_officer_has_a_mission(app, services, role):
    result = create(app, "someone", role, "--mission", "sa-riyadh")
    assert result.exit_code == 2 and "--mission is only for --role mission" in result.output
    assert rows(services) == []


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_a_short_password_is_refused(app, services, password):
    result = create(app, "amina", "operator", password=password)
    assert result.exit_code == 2 and "the password needs at least 10 characters" in result.output
    assert rows(services) == [] and audit(services) == []


@pytest.mark.parametrize("username", ["", "   ", "x" * 61])
def test_a_blank_or_overlong_username_is_refused(app, services, client, username):
    result = create(app, username, "operator")
    assert result.exit_code == 2, result.output
    assert "the username needs 1 to 60 characters" in result.output
    assert rows(services) == []
    assert login(client, "", PASSWORD).status_code == 401


def test_an_unknown_role_is_refused(app, services):
    result = create(app, "amina", "superuser")
    assert result.exit_code == 2 and "'superuser' is not one of" in result.output
    assert rows(services) == []


def test_a_username_is_taken_once_whatever_its_case(app, services):
    assert create(app, "amina", "operator").exit_code == 0
    result = create(app, "AMINA", "admin")
    assert (result.exit_code, result.output) == (1, "Error: user amina exists already\n")
    assert rows(services) == [("amina", Role.OPERATOR, None, True)]


def test_list_shows_every_user_with_role_mission_and_state(app, services):
    assert users(app, "list").output == ""
    for args in (("zawadi", "analyst"), ("amina", "operator"), ("riyadh1", "mission", "--mission", "sa-riyadh"),
                 ("root", "admin")):
        assert create(app, *args).exit_code == 0
    assert users(app, "disable", "root").exit_code == 0
    result = users(app, "list")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "amina\toperator\t", "riyadh1\tmission\tsa-riyadh", "root\tadmin\t (disabled)", "zawadi\tanalyst\t"]


def test_disabling_a_user_ends_their_session_and_their_sign_ins(app, services, client):
    assert create(app, "amina", "operator").exit_code == 0
    login(client, "amina")
    assert client.get("/dashboard/queue").status_code == 200

    result = users(app, "disable", "Amina")
    assert (result.exit_code, result.output) == (0, "user Amina disabled\n")
    assert rows(services) == [("amina", Role.OPERATOR, None, False)]
    assert client.get("/dashboard/queue").status_code == 302  # signed out at once
    assert login(client, "amina").status_code == 401
    assert audit(services)[-2][:3] == ("cli", "user_disabled", "amina")
    assert audit(services)[-1][:3] == ("amina", "login_failed", "amina")


def test_disabling_nobody_is_an_error(app, services):
    result = users(app, "disable", "nobody")
    assert (result.exit_code, result.output) == (1, "Error: no user nobody\n")
    assert audit(services) == []


def test_a_new_password_typed_at_the_prompt_signs_the_user_out_everywhere(app, services, client):
    assert create(app, "amina", "operator").exit_code == 0
    other = app.test_client()
    for browser in (client, other):
        assert login(browser, "amina").status_code == 302
    new = "another long passphrase"
    result = users(app, "password", "Amina", input=f"{new}\n{new}\n")
    assert result.exit_code == 0, result.output
    assert new not in result.output and "password of amina changed; 2 signed-in session(s) ended" in result.output
    for browser in (client, other):
        assert browser.get("/dashboard/queue").status_code == 302  # signed out at once
    assert audit(services)[-1] == ("cli", "password_changed", "amina", {"sessions_ended": 2})
    assert login(app.test_client(), "amina").status_code == 401
    assert login(app.test_client(), "amina", new).status_code == 302


@pytest.mark.parametrize("args,code,message", [
    (("amina", "--password", "123456789"), 2, "the password needs at least 10 characters"),
    (("nobody", "--password", PASSWORD), 1, "Error: no user nobody"),
], ids=["short", "unknown user"])
def test_a_password_change_is_refused_when_short_or_for_nobody(app, services, args, code, message):
    assert create(app, "amina", "operator").exit_code == 0
    result = users(app, "password", *args)
    assert result.exit_code == code and message in result.output
    assert [a[1] for a in audit(services)] == ["user_created"]
