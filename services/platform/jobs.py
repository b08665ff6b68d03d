"""The commit point for work outside a request (deploys, deliveries, polls), and after-commit hooks."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from flask import g, has_request_context

from models import db

_local = threading.local()


def after_commit(fn) -> None:
    """Run fn once the current unit of work (request or job) has committed; dropped on rollback."""
    if has_request_context():
        g.setdefault("berth_after_commit", []).append(fn)
    else:
        _local.__dict__.setdefault("pending", []).append(fn)


def run_after_commit(callbacks: list) -> None:
    for fn in callbacks:
        fn()


@contextmanager
def unit_of_work():
    """Commit what the block flushed, or roll it all back if it raised."""
    _local.pending = []
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        _local.pending = []
        raise
    callbacks, _local.pending = _local.pending, []
    run_after_commit(callbacks)
