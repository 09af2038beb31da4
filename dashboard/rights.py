"""Data subject requests (issue 12), for admins only: what is held about a person, found from
one of their numbers or a case reference; downloading it (the same JSON as `flask people
export`); erasing it (as `flask people erase`) once the admin has seen the counts and confirmed.

The number travels in the form only, never in the address: access logs, proxies and browser
histories keep addresses. Every lookup, download and erasure is audited, with counts only.
"""

from __future__ import annotations

from flask import Response, abort, flash, g, redirect, render_template, request, url_for

from dashboard import bp
from dashboard.auth import require, services
from gateway.people import rights
from gateway.store import audit
from gateway.store.models import Role

PAGE = "dashboard/people_rights.html"
IN_THE_ADDRESS = ("Type the number or reference in the form: it must not travel in the page's address, "
                  "which access logs and browser histories keep.")
DOWNLOAD = "msaada-person.json"  # never the number: file names end up in download folders and logs


def _page(status: int = 200, **context):
    return render_template(PAGE, kinds=rights.KINDS, **context), status


def _no_query() -> None:
    if request.args:
        abort(400, description=IN_THE_ADDRESS)


def _who() -> str:
    """The number or reference sent with the form; a 400 saying what to type otherwise."""
    who = " ".join((request.form.get("who") or "").split())
    if not rights.understood(who):
        page = render_template(PAGE, kinds=rights.KINDS, error=f"Nothing was looked up: {rights.NOT_UNDERSTOOD}.")
        abort(Response(page, 400))
    return who


@bp.get("/people-rights")
@require(Role.ADMIN)
def people_rights():
    _no_query()
    return _page()


@bp.post("/people-rights")
@require(Role.ADMIN)
def people_rights_lookup():
    _no_query()
    who = _who()
    held = rights.erase(services(), who, dry_run=True)
    audit.log(services(), g.viewer.name, "lookup_person", None, request.remote_addr, found=held is not None)
    if held is None:
        return _page(404, who=who, nothing=True)
    return _page(who=who, held=held)


@bp.post("/people-rights/export")
@require(Role.ADMIN)
def people_rights_export():
    _no_query()
    who = _who()
    data = rights.export(services(), who)
    if data is None:
        return _page(404, who=who, nothing=True)
    audit.log(services(), g.viewer.name, "export_person", None, request.remote_addr, cases=len(data["cases"]))
    return Response(rights.as_json(data), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{DOWNLOAD}"'})


@bp.post("/people-rights/erase")
@require(Role.ADMIN)
def people_rights_erase():
    _no_query()
    who = _who()
    held = rights.erase(services(), who, dry_run=True)
    if held is None or not held.anything:
        return _page(404, who=who, nothing=True)
    if request.form.get("seen") != held.seen():
        return _page(409, who=who, held=held,
                     error="What is held has changed since the counts were shown. Check them and confirm again.")
    if request.form.get("confirm") != "yes":
        return _page(400, who=who, held=held, error="Nothing was erased: tick the box to confirm.")
    try:
        done = rights.erase(services(), who, actor=g.viewer.name, ip=request.remote_addr,
                            force=request.form.get("force") == "yes")
    except rights.StillOpen as refused:
        return _page(409, who=who, held=held, error=f"Refused: {refused} Once you know they are safe, tick the "
                                                    f"box that closes the case as well.")
    except rights.InFlight as busy:
        return _page(409, who=who, held=held, error=f"Refused: {busy}.")
    # The flash travels in the session cookie: counts only.
    flash(f"Erased: {done.describe()}." if done is not None else "Nothing was left to erase.", "info")
    return redirect(url_for("dashboard.people_rights"))
