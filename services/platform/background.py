"""Background work in every process: release workers, a delivery worker, and a sweep that picks
up whatever is pending (after a restart too). Claims are atomic in the database, so several
processes or replicas never run the same work twice."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from models import Release, ReleaseStatus, db
from services.components import releases
from services.delivery import deliveries
from services.oversight import approvals, notifications

log = logging.getLogger("berth.background")


class Queue:
    """A thread pool that runs one job per id at a time in this process."""

    def __init__(self, app, name: str, workers: int, job):
        self.app, self.job = app, job
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"berth-{name}")
        self._inflight: set[int] = set()
        self._lock = threading.Lock()
        self.closed = False

    def submit(self, item_id: int) -> None:
        with self._lock:
            if item_id in self._inflight or self.closed:
                return
            self._inflight.add(item_id)
        self.pool.submit(self._run, item_id)

    def _run(self, item_id: int) -> None:
        try:
            with self.app.app_context():
                self.job(item_id)
        except Exception:  # logged; one failed job must not stop the pool
            log.exception("background job %s failed", item_id)
        finally:
            with self._lock:
                self._inflight.discard(item_id)

    def shutdown(self) -> None:
        self.closed = True
        self.pool.shutdown(wait=True, cancel_futures=True)


class Batches:
    """One thread that takes every id waiting (up to `size`) and runs the job on them together, in
    order: a burst of deliveries costs one claim per batch, not one per delivery.

    While a burst lasts (the last batch had more than one id) it starts batches at most every
    `gather` seconds, gathering ids until then or until a batch is full: a burst of cheap ids
    makes a few large batches rather than many small ones (each batch is a few write
    transactions, and SQLite has one writer). It never waits after a batch that took longer
    than that, and a lone id is taken at once."""

    def __init__(self, app, name: str, job, size: int = 50, gather: float = 0.02):
        self.app, self.job, self.size, self.gather = app, job, size, gather
        self._waiting: dict[int, None] = {}  # insertion-ordered set
        self._cond = threading.Condition()
        self.closed = False
        self._thread = threading.Thread(target=self._loop, name=f"berth-{name}", daemon=True)
        self._thread.start()

    def submit(self, item_id: int) -> None:
        with self._cond:
            if not self.closed:
                self._waiting[item_id] = None
                if len(self._waiting) in (1, self.size):  # the loop waits for the first, or for a full batch
                    self._cond.notify()

    def _loop(self) -> None:
        in_burst, started = False, 0.0
        while True:
            with self._cond:
                while not self._waiting and not self.closed:
                    self._cond.wait()
                if in_burst:
                    until = started + self.gather
                    while len(self._waiting) < self.size and not self.closed and time.monotonic() < until:
                        self._cond.wait(until - time.monotonic())
                if self.closed:
                    return  # what is still waiting stays pending in the database for the sweep
                batch = list(self._waiting)[:self.size]
                for item_id in batch:
                    del self._waiting[item_id]
            in_burst, started = len(batch) > 1, time.monotonic()
            try:
                with self.app.app_context():
                    self.job(batch)
            except Exception:  # logged; one failed batch must not stop the thread
                log.exception("background batch %s failed", batch)

    def shutdown(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify()
        self._thread.join()


class Notifier:
    """One thread per process that sends due notifications (and expires approvals): woken by a kick
    after a commit, and every `every` seconds for retries and for what other processes stored."""

    def __init__(self, app, every: float = 1.0):
        self.app, self.every = app, every
        self._wake = threading.Event()
        self.closed = False
        self._thread = threading.Thread(target=self._loop, name="berth-notify", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        stale = self.app.config["BERTH_STALE_SECONDS"]
        while not self.closed:
            self._wake.wait(self.every)
            self._wake.clear()
            if self.closed:
                return
            try:
                with self.app.app_context():
                    approvals.expire_due()
                    notifications.recover_stale(stale)
                    while notifications.send_due() and not self.closed:
                        pass
                    db.session.remove()
            except Exception:  # logged; the sender must survive a database hiccup
                log.exception("sending notifications failed")

    def shutdown(self) -> None:
        self.closed = True
        self._wake.set()
        self._thread.join(15)


class BackgroundRunner:
    def __init__(self, app, release_workers: int, sweep_every: float = 2.0):
        cfg = app.config
        self.app = app
        self._stop = threading.Event()
        self.releases = Queue(app, "release", release_workers, lambda rid: releases.run(
            rid, rollout_timeout=float(cfg["BERTH_ROLLOUT_TIMEOUT"]), stop=self._stop))
        # One delivery thread per process keeps decisions for a component in order.
        self.deliveries = Batches(app, "delivery", deliveries.process)
        self.notifier = Notifier(app, float(cfg["BERTH_NOTIFY_EVERY"]))
        self.sweep_every = sweep_every
        self._sweeper = threading.Thread(target=self._sweep_loop, name="berth-sweep", daemon=True)
        self._sweeper.start()

    def sweep(self) -> None:
        stale = self.app.config["BERTH_STALE_SECONDS"]
        with self.app.app_context():
            releases.recover_stale(stale)
            deliveries.recover_stale(stale)
            release_ids = db.session.scalars(select(Release.id).where(
                Release.status == ReleaseStatus.PENDING).order_by(Release.id).limit(100)).all()
            delivery_ids = deliveries.pending_ids()
            db.session.remove()
        for rid in release_ids:
            self.releases.submit(rid)
        for did in delivery_ids:
            self.deliveries.submit(did)

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_every):
            try:
                self.sweep()
            except Exception:  # logged; the sweeper must survive a database hiccup
                log.exception("background sweep failed")

    def shutdown(self) -> None:
        self._stop.set()
        self.releases.shutdown()
        self.deliveries.shutdown()
        self.notifier.shutdown()
