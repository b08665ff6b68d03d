"""Leadership for singleton jobs (the poller): exactly one process holds it, across workers and replicas.

PostgreSQL: a session-level advisory lock on a dedicated connection. SQLite (one machine): an
exclusive lock on a file next to the database. Whoever holds it keeps it until its process ends;
the others try again on each tick, so a dead leader is replaced."""
from __future__ import annotations

import fcntl
import logging
import os
import threading

from sqlalchemy import text

log = logging.getLogger("berth.leader")
ADVISORY_KEY = 0x62657274  # "bert"


class Leadership:
    def __init__(self, engine):
        self.engine = engine
        self._conn = None
        self._file = None
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def try_acquire(self) -> bool:
        with self._lock:
            if self.held:
                return self._still_held()
            if self.engine.dialect.name == "postgresql":
                conn = self.engine.connect()
                try:
                    got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
                    conn.commit()
                except Exception:  # noqa: BLE001 - no database, no leadership this tick
                    conn.close()
                    return False
                if got:
                    self._conn = conn
                else:
                    conn.close()
            else:
                path = (self.engine.url.database or "berth") + ".leader.lock"
                f = open(path, "a+")  # noqa: SIM115 - held open for the life of the process
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    f.close()
                else:
                    self._file = f
            if self.held:
                log.info("poller: process %s is the poll leader", os.getpid())
            return self.held

    def _still_held(self) -> bool:
        if self._conn is None:
            return True
        try:
            self._conn.execute(text("SELECT 1")).scalar()
            self._conn.commit()
            return True
        except Exception:  # noqa: BLE001 - the connection died; so did the lock
            log.warning("poller: lost the database connection holding leadership")
            try:
                self._conn.close()
            finally:
                self._conn = None
            return False

    def release(self) -> None:
        with self._lock:
            if self._conn is not None:
                try:
                    # Closing would return the connection, and the session-level lock with it, to the
                    # pool; invalidating really disconnects, which ends the lock.
                    self._conn.invalidate()
                    self._conn.close()
                finally:
                    self._conn = None
            if self._file is not None:
                self._file.close()
                self._file = None
