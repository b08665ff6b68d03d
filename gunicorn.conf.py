"""gunicorn settings for Berth; each can be overridden with the usual GUNICORN_CMD_ARGS."""
import os
import sys

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


def worker_exit(server, worker):
    """Stop Berth's background work cleanly: releases in flight go back to pending for the next worker."""
    module = sys.modules.get("wsgi")
    state = module.app.extensions.get("berth") if module else None
    if state is not None:
        state.shutdown()


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR set, drop a dead worker's live gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
