"""Users, teams and memberships."""
from __future__ import annotations

from datetime import timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from models import MAX_ID, Component, LoginFailure, Membership, Role, Team, User, db, utcnow
from services.errors import FieldErrors, ServiceError
from services.oversight import audit
from services.platform.validation import check_password, check_team_name, check_team_slug, slugify


def _hash(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["BERTH_PASSWORD_HASH"])


@cache
def _dummy_hash(method: str) -> str:
    """Compared against when the email is unknown, so a login takes the same time either way."""
    return generate_password_hash("berth-dummy-password", method=method)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def has_users() -> bool:
    return db.session.scalar(select(func.count(User.id))) > 0


def find_user(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def create_user(email: str, password: str, *, is_admin: bool = False) -> User:
    email = normalize_email(email)
    if find_user(email) is not None:
        raise FieldErrors({"email": "A user with this email already exists."})
    user = User(email=email, password_hash=_hash(password),
                is_admin=is_admin)
    db.session.add(user)
    db.session.flush()
    return user


def _unique_slug(base: str) -> str:
    slug, n = base, 1
    while db.session.scalar(select(Team.id).where(Team.name == slug)) is not None:
        n += 1
        slug = f"{base[:40 - len(str(n)) - 1]}-{n}"
    return slug


def get_or_create_team(name: str) -> Team:
    """The team with this slug or display name (any case); made, with a slug from the name, if none."""
    name = name.strip()
    team = db.session.scalar(select(Team).where(or_(func.lower(Team.name) == name.lower(),
                                                    func.lower(Team.display_name) == name.lower())))
    if team is None:
        team = Team(name=_unique_slug(slugify(name)), display_name=name)
        db.session.add(team)
        db.session.flush()
    return team


def create_team(name: str, owner: User, *, by: str | None = None) -> Team:
    """A new team called `name` ("Shop & Co"), its slug made from it (shop-co, shop-co-2…)."""
    name = name.strip()
    if db.session.scalar(select(Team).where(func.lower(Team.display_name) == name.lower())):
        raise FieldErrors({"team": "A team with this name already exists."})
    team = Team(name=_unique_slug(slugify(name)), display_name=name)
    db.session.add(team)
    db.session.flush()
    add_member(team, owner, Role.OWNER)
    audit.record(team.id, by or owner.email, "team.created", f"team {team.name}")
    return team


def rename_team(team: Team, display_name: str, slug: str, *, by: str) -> None:
    """Change the display name and the slug (a DNS label, unique; it names the namespace)."""
    problems = {}
    problem = check_team_name(display_name)
    if problem:
        problems["display_name"] = problem
    problem = check_team_slug(slug)
    if problem:
        problems["slug"] = problem
    elif slug != team.name and db.session.scalar(select(Team.id).where(Team.name == slug)) is not None:
        problems["slug"] = "Another team already uses this slug."
    elif slug != team.name and db.session.scalar(select(Component.id).where(Component.team_id == team.id).limit(1)):
        problems["slug"] = ("The slug names the namespace the team's components run in; it can change only while "
                            "the team has no components.")
    if problems:
        raise FieldErrors(problems)
    team.display_name, team.name = display_name.strip(), slug
    audit.record(team.id, by, "team.renamed", f"team {team.name}", team.label)
    db.session.flush()


def first_setup(email: str, password: str, team_name: str) -> User:
    """Create the first admin and their team; refused once any user exists."""
    if has_users():
        raise ServiceError("Berth is already set up.")
    user = create_user(email, password, is_admin=True)
    create_team(team_name, user)
    return user


def authenticate(email: str, password: str) -> User | None:
    user = find_user(email)
    if user is None:
        check_password_hash(_dummy_hash(current_app.config["BERTH_PASSWORD_HASH"]), password)
        return None
    return user if check_password_hash(user.password_hash, password) and user.active else None


def membership(user: User, team_id: int) -> Membership | None:
    """The user's membership in a team, with the team loaded in the same query."""
    return db.session.scalar(
        select(Membership).options(joinedload(Membership.team))
        .where(Membership.user_id == user.id, Membership.team_id == team_id)
    )


_USER_WITH_TEAMS = (select(User).options(joinedload(User.memberships).joinedload(Membership.team))
                    .where(User.id == bindparam("user_id")))  # built once: it runs on every request


def load_user(session_id: str) -> User | None:
    """The signed-in user with their memberships and teams, in one query; None when the session's
    id ("<user id>:<session version>", User.get_id) is from before the user signed out."""
    user_id, _, version = (session_id or "").partition(":")
    if not (user_id.isdigit() and version.isdigit()) or not 0 < int(user_id) <= MAX_ID:
        return None
    user = db.session.execute(_USER_WITH_TEAMS, {"user_id": int(user_id)}).unique().scalar_one_or_none()
    return user if user is not None and user.active and user.session_version == int(version) else None


def end_sessions(user: User) -> None:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    db.session.execute(update(User).where(User.id == user.id).values(session_version=User.session_version + 1))


# -- sign-in throttling: stored in the database, so it holds across processes --------------------
MAX_FAILURES = 10
FAILURE_WINDOW = timedelta(minutes=15)


def login_refused(email: str, address: str) -> str | None:
    """A message when this account or this address failed to sign in MAX_FAILURES times within
    FAILURE_WINDOW; the refusal ends on its own as the failures age out of the window."""
    since = utcnow() - FAILURE_WINDOW
    for column, value in ((LoginFailure.email, normalize_email(email)), (LoginFailure.address, address)):
        times = db.session.scalars(select(LoginFailure.at).where(column == value, LoginFailure.at > since)
                                   .order_by(LoginFailure.at.desc()).limit(MAX_FAILURES)).all()
        if len(times) >= MAX_FAILURES:
            wait = times[-1] + FAILURE_WINDOW - utcnow()
            minutes = max(1, -(-int(wait.total_seconds()) // 60))
            return (f"Too many failed sign-ins for this account or from this address. "
                    f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.")
    return None


def record_login_failure(email: str, address: str) -> None:
    """Store a failed sign-in in its own transaction: the request that failed is rolled back, this
    is not. Failures older than the window are dropped on the way."""
    with db.engine.begin() as connection:
        connection.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - FAILURE_WINDOW))
        connection.execute(insert(LoginFailure).values(email=normalize_email(email)[:254], address=address[:64],
                                                       at=utcnow()))


def clear_login_failures(email: str) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.email == normalize_email(email)))


def _memberships_by_team_name(user: User) -> list[Membership]:
    return sorted(user.memberships, key=lambda m: m.team.name)


def teams_of(user: User) -> list[Team]:
    return [m.team for m in _memberships_by_team_name(user)]


def working_membership(user: User, team_id: int | None) -> Membership | None:
    """The membership for the team the session names, else the user's first team by name."""
    memberships = _memberships_by_team_name(user)
    chosen = next((m for m in memberships if m.team_id == team_id), None)
    return chosen or (memberships[0] if memberships else None)


def add_member(team: Team, user: User, role: Role = Role.MEMBER) -> Membership:
    if membership(user, team.id) is not None:
        raise FieldErrors({"email": f"{user.email} is already a member of {team.name}."})
    m = Membership(team=team, user=user, role=role)
    db.session.add(m)
    db.session.flush()
    return m


def add_member_by_email(team: Team, email: str, role: Role, *, by: str) -> Membership:
    user = find_user(email)
    if user is None:
        raise FieldErrors({"email": "No user with this email. Ask an admin to create the account first."})
    m = add_member(team, user, role)
    audit.record(team.id, by, "team.member_added", f"user {m.user.email}", f"as {m.role}")
    return m


def change_role(m: Membership, role: Role, *, by: str) -> None:
    """Make a member an owner or a member; the last owner cannot be demoted."""
    owners = [x for x in m.team.memberships if x.role == Role.OWNER]
    if m.role == Role.OWNER and role != Role.OWNER and len(owners) == 1:
        raise ServiceError("A team needs at least one owner; make someone else owner first.")
    m.role = role
    audit.record(m.team_id, by, "team.role_changed", f"user {m.user.email}", f"now {m.role}")
    db.session.flush()


def change_password(user: User, current: str, new: str) -> None:
    """The user's own password change: the current one is required; other sessions end."""
    problems = {}
    if not check_password_hash(user.password_hash, current or ""):
        problems["current_password"] = "This is not your current password."
    problem = check_password(new)
    if problem:
        problems["new_password"] = problem
    if problems:
        raise FieldErrors(problems)
    set_password(user, new, by=None)
    audit.record(None, user.email, "user.password_changed", f"user {user.email}")


def set_password(user: User, new: str, *, by: str | None) -> None:
    """Set a password (an admin's reset, `by` them; or the user's change) and end the user's sessions."""
    problem = check_password(new)
    if problem:
        raise FieldErrors({"new_password": problem})
    user.password_hash = _hash(new)
    user.session_version += 1
    if by is not None:
        audit.record(None, by, "user.password_reset", f"user {user.email}")
    db.session.flush()


def set_active(user: User, active: bool, by: User) -> None:
    if user.id == by.id and not active:
        raise ServiceError("You cannot deactivate yourself.")
    user.active = active
    if not active:
        user.session_version += 1
    audit.record(None, by.email, "user.activated" if active else "user.deactivated", f"user {user.email}")
    db.session.flush()


def delete_user(user: User, by: User) -> None:
    """Delete an account (its audit entries stay: they name the email, not the row). A user who is
    the last owner of a team is kept until that team has another owner."""
    if user.id == by.id:
        raise ServiceError("You cannot delete yourself.")
    for m in user.memberships:
        owners = [x for x in m.team.memberships if x.role == Role.OWNER]
        if m.role == Role.OWNER and len(owners) == 1:
            raise ServiceError(f"{user.email} is the last owner of {m.team.label}; make someone else owner first.")
    audit.record(None, by.email, "user.deleted", f"user {user.email}")
    db.session.delete(user)
    db.session.flush()


def remove_member(m: Membership, *, by: str) -> None:
    owners = [x for x in m.team.memberships if x.role == Role.OWNER]
    if m.role == Role.OWNER and len(owners) == 1:
        raise ServiceError("A team needs at least one owner; make someone else owner first.")
    audit.record(m.team_id, by, "team.member_removed", f"user {m.user.email}")
    db.session.delete(m)
    db.session.flush()


def create_user_in_team(email: str, password: str, team_name: str, *, is_admin: bool = False, by: str
                        ) -> tuple[User, Team, Role]:
    """Create a user in a team (made if missing; its first member becomes owner)."""
    user = create_user(email, password, is_admin=is_admin)
    team = get_or_create_team(team_name)
    role = Role.MEMBER if team.memberships else Role.OWNER
    add_member(team, user, role)
    audit.record(team.id, by, "user.created", f"user {user.email}", "administrator" if is_admin else "")
    return user, team, role


def all_users() -> list[User]:
    """Every user of this Berth, by email (the administrators' list)."""
    return list(db.session.scalars(select(User).order_by(User.email)))
