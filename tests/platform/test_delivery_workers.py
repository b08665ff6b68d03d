"""The per-process delivery thread: ids waiting together are handed over together, in order."""
from __future__ import annotations

import queue
import threading
import time

from services.platform.background import Batches


def test_batches_take_what_waits_in_order_once_each(app):
    started, release, finished = threading.Event(), threading.Event(), threading.Event()
    seen: list[list[int]] = []

    def job(ids):
        seen.append(ids)
        started.set()
        release.wait(5)  # hold the first batch so the next ids queue up behind it
        if 5 in ids:
            finished.set()

    batches = Batches(app, "test", job, size=3)
    try:
        batches.submit(1)
        assert started.wait(5)
        for item_id in (2, 3, 2, 4, 5):  # 2 twice: still once
            batches.submit(item_id)
        release.set()
        assert finished.wait(5)
    finally:
        batches.shutdown()
    assert seen == [[1], [2, 3, 4], [5]]


def _timed_job(hold: threading.Event, slow: list[int] | None = None, slow_for: float = 0.0):
    """A job that records when it took each batch; it holds [1] until `hold` is set and takes
    `slow_for` seconds over the batch `slow`."""
    taken: queue.Queue = queue.Queue()

    def job(ids):
        taken.put((time.monotonic(), ids))
        if ids == [1]:
            hold.wait(5)
        elif ids == slow:
            time.sleep(slow_for)
    return taken, job


def test_a_burst_is_gathered_and_a_lone_id_is_not(app):
    hold = threading.Event()
    taken, job = _timed_job(hold)

    def next_batch():
        return taken.get(timeout=5)

    batches = Batches(app, "test", job, size=3, gather=1.0)
    try:
        start = time.monotonic()
        batches.submit(1)
        when, ids = next_batch()
        assert ids == [1] and when - start < 0.5  # nothing before it: taken at once
        batches.submit(2)
        batches.submit(3)
        hold.set()
        assert next_batch()[1] == [2, 3]  # they waited behind [1]; the burst starts
        start = time.monotonic()
        batches.submit(4)
        time.sleep(0.1)
        batches.submit(5)
        batches.submit(6)
        when, ids = next_batch()
        assert ids == [4, 5, 6] and when - start < 0.9  # gathered until the batch was full
        start = time.monotonic()
        batches.submit(7)
        when, ids = next_batch()
        assert ids == [7] and when - start >= 0.9  # still in the burst: gathered for the full second
        start = time.monotonic()
        batches.submit(8)
        when, ids = next_batch()
        assert ids == [8] and when - start < 0.5  # the burst is over: at once again
    finally:
        batches.shutdown()


def test_no_gathering_after_a_batch_slower_than_the_gathering_time(app):
    hold = threading.Event()
    # [2, 3] takes longer than `gather`: what queued meanwhile goes at once after it.
    taken, job = _timed_job(hold, slow=[2, 3], slow_for=0.6)
    batches = Batches(app, "test", job, size=10, gather=0.5)
    try:
        batches.submit(1)
        assert taken.get(timeout=5)[1] == [1]
        batches.submit(2)
        batches.submit(3)
        hold.set()
        slow_started, ids = taken.get(timeout=5)
        assert ids == [2, 3]
        batches.submit(4)
        when, ids = taken.get(timeout=5)
        assert ids == [4] and when - slow_started < 0.6 + 0.3
    finally:
        batches.shutdown()


def test_a_failing_batch_does_not_stop_the_thread(app):
    failed, done = threading.Event(), threading.Event()

    def job(ids):
        if ids == [1]:
            failed.set()
            raise RuntimeError("boom")
        done.set()

    batches = Batches(app, "test", job)
    try:
        batches.submit(1)
        assert failed.wait(5)
        batches.submit(2)
        assert done.wait(5)
    finally:
        batches.shutdown()


def test_shutdown_leaves_what_waits_for_the_sweep(app):
    started, release = threading.Event(), threading.Event()
    seen: list[list[int]] = []

    def job(ids):
        seen.append(ids)
        started.set()
        release.wait(5)

    batches = Batches(app, "test", job)
    batches.submit(1)
    assert started.wait(5)
    batches.submit(2)
    closer = threading.Thread(target=batches.shutdown)
    closer.start()
    while not batches.closed:  # shutdown has begun before the running batch ends
        time.sleep(0.01)
    release.set()
    closer.join(5)
    assert seen == [[1]]  # 2 stays pending in the database; a sweep picks it up
