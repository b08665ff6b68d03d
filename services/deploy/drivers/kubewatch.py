"""Following a rollout with watches, not polling: one watch on the component's Deployment and one on
its pods, each from the last resourceVersion it saw, resumed after the server's timeout and started
again "from now" after `410 Gone` (the version fell out of the API server's window). Each event
wakes the release, which then reads the status once; between events nothing is asked of the API
server but a resync now and then (an Unhealthy probe Event changes no object the watches see)."""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

import urllib3
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("berth.deploy")

WATCH_SECONDS = 60  # the API server ends each watch after this long; it is then resumed
RESYNC_SECONDS = 15  # a status read even without an event
EVENT_BYTES = 4_000_000  # one watch event larger than this is not a Deployment or a pod
RETRY_SECONDS = 2  # after a failed watch request, before the next one


def lines(chunks: Iterator[bytes], limit: int = EVENT_BYTES) -> Iterator[bytes]:
    """The newline-separated JSON documents of a watch response, each at most `limit` bytes."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield line
        if len(buffer) > limit:
            raise ValueError(f"a watch event over {limit} bytes")
    if buffer.strip():
        yield buffer


class Stream:
    """One watch, kept open in a thread of its own until `stop` is set; wakes `wake` on each change."""

    def __init__(self, name: str, list_fn: Callable, namespace: str, selector: dict, wake: queue.SimpleQueue,
                 stop: threading.Event):
        self.name, self.list_fn, self.namespace, self.selector = name, list_fn, namespace, selector
        self.wake, self.stop = wake, stop
        self.resource_version: str | None = None  # None: start from now, with the current objects as ADDED
        self.gone = 0  # how often the server said 410 Gone (the test of the resume reads it)
        self.response = None  # the open watch, closed from outside when the rollout ends

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"watch-{self.name}", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.watch_once()
            except ApiException as e:
                if e.status == 410:
                    self.expired()
                    continue
                self.failed(f"{e.status} {e.reason}")
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as e:
                if not self.stop.is_set():  # else: closed on purpose
                    self.failed(str(e))

    def watch_once(self) -> None:
        kwargs = dict(self.selector, watch=True, allow_watch_bookmarks=True, timeout_seconds=WATCH_SECONDS,
                      _preload_content=False, _request_timeout=(5, WATCH_SECONDS + 15))
        if self.resource_version is not None:
            kwargs["resource_version"] = self.resource_version
        response = self.list_fn(self.namespace, **kwargs)
        self.response = response
        if self.stop.is_set():
            return self.close()
        try:
            for line in lines(response.stream(amt=None, decode_content=True)):
                if self.stop.is_set():
                    return
                self.event(json.loads(line))
        finally:
            self.response = None
            response.release_conn()

    def close(self) -> None:
        """End the open watch now rather than at the server's timeout (its thread then ends)."""
        response = self.response
        if response is not None:
            shutdown = getattr(response, "shutdown", None)  # urllib3 2.3+: unblocks a pending read
            try:
                shutdown() if shutdown else response.close()
            except (OSError, RuntimeError, urllib3.exceptions.HTTPError):
                pass  # the watch ended meanwhile (urllib3: "already released to the pool")

    def event(self, event: dict) -> None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                self.expired()
                return
            raise ValueError(f"watch error: {str(obj.get('message', ''))[:200]}")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if isinstance(version, str) and version:
            self.resource_version = version
        if kind != "BOOKMARK":
            self.wake.put(self.name)

    def expired(self) -> None:
        """The version is too old to resume from: watch again from now (the current objects arrive
        as ADDED events), and read the status, since something may have changed unseen."""
        self.gone += 1
        self.resource_version = None
        self.wake.put(self.name)

    def failed(self, why: str) -> None:
        log.info("watch on %s in %s failed (%s); retrying", self.name, self.namespace, why)
        self.wake.put(self.name)  # the status read says what is wrong, in plain words
        self.stop.wait(RETRY_SECONDS)


class Watcher:
    """What a release waits on while its Deployment rolls out (services.deploy.drivers.interface.Follower)."""

    def __init__(self, streams: list[tuple[str, Callable, str, dict]], resync: float = RESYNC_SECONDS):
        self.wake: queue.SimpleQueue = queue.SimpleQueue()
        self.stop = threading.Event()
        self.streams = [Stream(name, fn, namespace, selector, self.wake, self.stop)
                        for name, fn, namespace, selector in streams]
        self.resync = resync
        self.read_at = time.monotonic()

    def __enter__(self) -> Watcher:
        for stream in self.streams:
            stream.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for stream in self.streams:
            stream.close()

    def wait(self, timeout: float) -> bool:
        try:
            self.wake.get(timeout=timeout)
        except queue.Empty:
            if time.monotonic() - self.read_at < self.resync:
                return False
        while not self.wake.empty():  # a burst of events is one status read
            self.wake.get_nowait()
        self.read_at = time.monotonic()
        return True
