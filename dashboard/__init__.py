"""The web dashboard for the Response Centre, the missions and analysts: `/dashboard/...`.

`auth` signs people in and guards every page (server-side sessions, sign-in and per-address
limits, roles, CSRF, audit, one's own password); `queue` and `cases` are the
operators' work; `crisis_map` and `reports` show the picture; `associations` lists the diaspora
associations; `rights` serves a person's requests for their data (admins only).
"""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static", static_url_path="/static")

from dashboard import associations, auth, cases, crisis_map, queue, reports, rights, search, times  # noqa: E402,F401  (they add routes to bp)
