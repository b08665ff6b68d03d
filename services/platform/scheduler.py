"""The scheduler: an APScheduler tick in every process. A job runs at its own period on the process
holding the leadership (services.platform.leader), or on every process when it shares its work out
itself (polling on PostgreSQL, through leases). The jobs (poll, prune, refresh pull Secrets,
promotions) are handed in by the app, so this module knows no domain."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from models import db
from services.platform import runtime
from services.platform.leader import Leadership

log = logging.getLogger("berth.scheduler")


@dataclass
class Job:
    name: str
    run: Callable[[], None]
    every: Callable[[], float]  # seconds between runs, read from the config at each tick
    everywhere: bool = False  # runs on every process, not only the leader's
    last: float = float("-inf")


def start(app: Flask, jobs: list[Job], tick_seconds: float) -> Callable[[], None]:
    """Tick every `tick_seconds`; the leader runs each job whose period has passed, in order, one
    failure never stopping the next. Returns the stop."""
    with app.app_context():
        leadership = Leadership(db.engine)
    runtime.of(app).leadership = leadership

    def tick():
        with app.app_context():
            leads = leadership.try_acquire()
            for job in jobs:
                if not (leads or job.everywhere) or time.monotonic() - job.last < job.every():
                    continue
                job.last = time.monotonic()
                try:
                    job.run()
                except Exception:  # logged; the next job and the next tick run all the same
                    db.session.rollback()
                    log.exception("%s failed", job.name)
            db.session.remove()

    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per tick is noise
    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(tick, "interval", seconds=tick_seconds, max_instances=1, coalesce=True, id="berth-leader")
    scheduler.start()

    def stop():
        scheduler.shutdown(wait=True)
        leadership.release()
    return stop
