"""The pieces a Berth process runs beside its requests, kept on the app as one typed object."""
from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import Flask, current_app

from services.platform.sentinel import NOT_PASSED, NotPassed

if TYPE_CHECKING:
    from services.deploy.drivers.interface import Deployer
    from services.platform.leader import Leadership

KEY = "berth"


@dataclass
class Runtime:
    """Background workers, the poller's leadership and the deployer of one app in one process."""

    release_kick: Callable[[int], None] | None = None  # queue a release for this process's workers
    delivery_kick: Callable[[int], None] | None = None  # queue a stored delivery
    notify_kick: Callable[[], None] | None = None  # wake the notification sender
    leadership: Leadership | None = None  # while this process may poll
    deployer: Deployer | None | NotPassed = NOT_PASSED  # chosen on first use (services.deploy.deployers)
    deployer_reason: str = ""  # why deploying is disabled, when it is
    set_up: bool = False  # a first user exists (no more redirects to /setup)
    # Registry clients kept per registry and connection settings (services.registries.client_for),
    # and the newest rate limit each registry reported to this process.
    registry_clients: dict = field(default_factory=dict)
    # Kubernetes deployers of the teams' cluster targets, by (target id, updated_at).
    target_deployers: dict = field(default_factory=dict)
    rate_limits: dict = field(default_factory=dict)
    # services.delivery.polling.Budget, the requests polling spent per registry (typed there: the
    # platform imports no domain).
    poll_budget: object | None = None
    # Who this process is on the poll leases it takes (services.delivery.leases).
    holder: str = field(default_factory=lambda: f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}")
    # The first key of each poll batch this process claimed in its last cycle: it asks for those first
    # next time (services.delivery.polling), keeping the registry tokens it holds for them useful.
    polled_batches: set[str] = field(default_factory=set)
    started: bool = False
    shutdowns: list[Callable[[], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    starter: Callable[[], None] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start the background work once (the first request does; CLI commands never do)."""
        if self.started or self.starter is None:
            return
        with self.lock:
            if not self.started:
                self.started = True
                self.starter()

    def shutdown(self) -> None:
        """Stop what `start` started: releases in flight go back to pending for another worker."""
        for stop in self.shutdowns:
            stop()
        self.shutdowns.clear()

    @property
    def has_deployer(self) -> bool:
        return self.deployer is not NOT_PASSED


def install(app: Flask) -> Runtime:
    app.extensions[KEY] = runtime = Runtime()
    return runtime


def of(app: Flask | None = None) -> Runtime:
    """This app's runtime (the current app's by default)."""
    return (app or current_app).extensions[KEY]
