"""Users, teams and memberships."""
from __future__ import annotations

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from models import Membership, Role, Team, User, db
from services.errors import FieldErrors, ServiceError

# Compared against when the email is unknown, so a login takes the same time either way.
_DUMMY_HASH = generate_password_hash("berth-dummy-password", method="scrypt")


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
    user = User(email=email, password_hash=generate_password_hash(password, method="scrypt"),
                is_admin=is_admin)
    db.session.add(user)
    db.session.flush()
    return user


def get_or_create_team(name: str) -> Team:
    name = name.strip()
    team = db.session.scalar(select(Team).where(func.lower(Team.name) == name.lower()))
    if team is None:
        team = Team(name=name)
        db.session.add(team)
        db.session.flush()
    return team


def create_team(name: str, owner: User) -> Team:
    name = name.strip()
    if db.session.scalar(select(Team).where(func.lower(Team.name) == name.lower())):
        raise FieldErrors({"team": "A team with this name already exists."})
    team = Team(name=name)
    db.session.add(team)
    db.session.flush()
    add_member(team, owner, Role.OWNER)
    return team


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
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def membership(user: User, team_id: int) -> Membership | None:
    """The user's membership in a team, with the team loaded in the same query."""
    return db.session.scalar(
        select(Membership).options(joinedload(Membership.team))
        .where(Membership.user_id == user.id, Membership.team_id == team_id)
    )


_USER_WITH_TEAMS = (select(User).options(joinedload(User.memberships).joinedload(Membership.team))
                    .where(User.id == bindparam("user_id")))  # built once: it runs on every request


def load_user(user_id: int) -> User | None:
    """The signed-in user with their memberships and teams, in one query."""
    return db.session.execute(_USER_WITH_TEAMS, {"user_id": user_id}).unique().scalar_one_or_none()


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


def add_member_by_email(team: Team, email: str, role: Role) -> Membership:
    user = find_user(email)
    if user is None:
        raise FieldErrors({"email": "No user with this email. Ask an admin to create the account first."})
    return add_member(team, user, role)


def remove_member(m: Membership) -> None:
    owners = [x for x in m.team.memberships if x.role == Role.OWNER]
    if m.role == Role.OWNER and len(owners) == 1:
        raise ServiceError("A team needs at least one owner; make someone else owner first.")
    db.session.delete(m)
    db.session.flush()


def create_user_in_team(email: str, password: str, team_name: str, *, is_admin: bool = False
                        ) -> tuple[User, Team, Role]:
    """Create a user in a team (made if missing; its first member becomes owner)."""
    user = create_user(email, password, is_admin=is_admin)
    team = get_or_create_team(team_name)
    role = Role.MEMBER if team.memberships else Role.OWNER
    add_member(team, user, role)
    return user, team, role
