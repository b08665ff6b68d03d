"""gunicorn settings for Berth; each can be overridden with the usual GUNICORN_CMD_ARGS."""
import os
import socket

from gunicorn import sock, util
from prometheus_client import multiprocess

bind = os.environ.get("BERTH_BIND", f"127.0.0.1:{os.environ.get('BERTH_PORT', '8000')}")
workers = int(os.environ.get("BERTH_WORKERS", "2"))
# Threads keep slow registry calls from blocking other requests in the same worker.
threads = int(os.environ.get("BERTH_THREADS", "4"))
worker_class = "gthread"
# Each worker listens on its own SO_REUSEPORT socket, so the kernel spreads connections over the
# workers; on one shared socket a single worker can take every kept-alive connection of a burst.
reuse_port = True
# Registry calls time out after BERTH_REGISTRY_TIMEOUT (10 s by default, times a few retries).
timeout = int(os.environ.get("BERTH_WORKER_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
accesslog = os.environ.get("BERTH_ACCESS_LOG") or None
raw_env = ["BERTH_ENV=production"]
# Several instances may run on one machine (tests, a blue/green restart): no shared control socket.
control_socket_disable = True


def _listens_late(worker) -> bool:
    """Whether the worker opens its listening socket only once Berth is loaded: when it has a socket
    of its own (reuse_port) and other workers to take connections meanwhile."""
    return worker.cfg.reuse_port and hasattr(socket, "SO_REUSEPORT") and worker.cfg.workers > 1


def post_fork(server, worker):
    """A worker with its own socket opens it as it forks, and the kernel shares new connections
    with it from then on, while loading Berth takes a second or more: they would wait there (a
    respawned worker's first requests took 0.4-0.8 s while the other worker idled). Closed now and
    opened again once Berth is loaded (post_worker_init); a connection queued in the microseconds
    between is reset. A single worker keeps its socket: a connection had better wait than be refused."""
    if _listens_late(worker):
        for listener in worker.sockets:
            listener.close()
        worker.sockets = []


def post_worker_init(worker):
    """Berth is loaded: start its background work and open a database connection, as a first
    request would, then listen."""
    from services.platform import health, runtime  # noqa: PLC0415 - the master process never loads Berth

    app = worker.wsgi  # Berth's Flask app (wsgi:app)
    runtime.of(app).start()
    with app.app_context():
        health.database_ok()
    if _listens_late(worker):
        worker.sockets = sock.create_sockets(worker.cfg, worker.log)
        for listener in worker.sockets:
            util.close_on_exec(listener)


def worker_exit(server, worker):
    """Stop Berth's background work cleanly: releases in flight go back to pending for the next worker."""
    app = getattr(worker, "wsgi", None)  # unset, or gunicorn's error app, when Berth failed to load
    state = getattr(app, "extensions", {}).get("berth")
    if state is not None:
        state.shutdown()


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR set, drop a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
