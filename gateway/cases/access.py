"""Who may see what: one rule for the dashboard and the API.

Operators and admins see every case; a mission officer sees only the cases of their mission;
an analyst sees aggregates and no personal data at all, nor a count small enough to point at
someone.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.store.models import Case, Role


@dataclass(frozen=True)
class Viewer:
    name: str  # a username, or "api:<first characters of the token>"
    role: Role
    mission_id: str | None = None

    @property
    def sees_people(self) -> bool:
        """Whether personal data (cases, names, numbers) may be shown at all."""
        return self.role != Role.ANALYST

    @property
    def exact_figures(self) -> bool:
        """Whether aggregates are shown as they are. An analyst's hide small counts and what the
        public typed (gateway.cases.stats.ForAnalysts)."""
        return self.role != Role.ANALYST

    @property
    def acts(self) -> bool:
        """Whether the viewer may act on cases (acknowledge, note, message, resolve)."""
        return self.role in (Role.OPERATOR, Role.MISSION, Role.ADMIN)

    def may_see(self, case: Case) -> bool:
        if self.role in (Role.OPERATOR, Role.ADMIN):
            return True
        return self.role == Role.MISSION and case.mission_id == self.mission_id

    def cases(self, query):
        """`query` (a select of Case) narrowed to what this viewer may see."""
        if self.role in (Role.OPERATOR, Role.ADMIN):
            return query
        if self.role == Role.MISSION:
            return query.where(Case.mission_id == self.mission_id)
        return query.where(False)

    def mission_filter(self):
        """A WHERE clause for aggregates: a mission officer's reports cover their mission only."""
        return Case.mission_id == self.mission_id if self.role == Role.MISSION else True


def viewer_of_token(scope: str, token: str) -> Viewer:
    name = f"api:{token[:4]}"
    if scope.startswith("mission:"):
        return Viewer(name, Role.MISSION, scope.split(":", 1)[1])
    return Viewer(name, Role(scope))
