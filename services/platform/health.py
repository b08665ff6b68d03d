"""Whether this process can do its work: the readiness check behind /healthz."""
from __future__ import annotations

from sqlalchemy import text

from models import db


def database_ok() -> tuple[bool, str]:
    """(True, "ok") when the database answers a query, else (False, the error's class name)."""
    try:
        db.session.execute(text("SELECT 1"))
        return True, "ok"
    except Exception as e:  # noqa: BLE001 - any failure means the database is not usable
        db.session.rollback()
        return False, type(e).__name__
