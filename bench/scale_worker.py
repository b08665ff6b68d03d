"""One polling process of the scale simulation (bench/scale.py): what a gunicorn worker of a replica
runs on its scheduler's tick, driven from stdin so the parent starts every process's cycle at once.

    python -m bench.scale_worker CONFIG_JSON
    stdin:  cycle <ISO time>   -> stdout: {"groups": …, "seconds": …, "database": …, "rss_mb": …}
"""
from __future__ import annotations

import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(config: dict) -> None:
    from sqlalchemy import event

    from app import create_app
    from models import db
    from services.delivery import polling

    app = create_app(config)
    spent, lock = [0.0], threading.Lock()
    with app.app_context():
        def before(conn, cursor, statement, params, context, many):
            context.berth_started = time.perf_counter()

        def after(conn, cursor, statement, params, context, many):
            with lock:
                spent[0] += time.perf_counter() - context.berth_started
        event.listen(db.engine, "before_cursor_execute", before)
        event.listen(db.engine, "after_cursor_execute", after)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command != "cycle":
            break
        spent[0] = 0.0
        started = time.perf_counter()
        with app.app_context():
            report = polling.poll_cycle(now=datetime.fromisoformat(arg))
            db.session.remove()
        print(json.dumps({"groups": report.groups, "events": report.events, "errors": report.errors[:5],
                          "seconds": time.perf_counter() - started, "database": spent[0], "rss_mb": rss_mb()}),
              flush=True)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
