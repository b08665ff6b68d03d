"""Objects of one team for the route-scoping test; extend OBJECT_ARGS with each new route argument."""
from __future__ import annotations

from sqlalchemy import select

from models import Membership, Team, db


def public_endpoints(app) -> set[str]:
    return {e for e, view in app.view_functions.items()
            if getattr(view, "berth_public", False) or getattr(view, "berth_webhook", False)}


def build_url(rule, values) -> str:
    return rule.map.bind("localhost").build(rule.endpoint, values)


def _team_objects(app, team_name: str) -> dict[str, int]:
    with app.app_context():
        team = db.session.scalar(select(Team).where(Team.name == team_name))
        return {
            "team_id": team.id,
            "membership_id": db.session.scalar(select(Membership.id).where(Membership.team_id == team.id)),
        }


OBJECT_ARGS: dict[str, str] = {"team_id": "team", "membership_id": "membership"}
EXTRA_FACTORIES = []


def make_team_objects(app, make_user, team: str) -> dict[str, int]:
    make_user(email=f"owner-{team}@example.com", team=team)
    objects = _team_objects(app, team)
    for factory in EXTRA_FACTORIES:
        objects.update(factory(app, team))
    return objects
