"""Ordering and searching a fetched tag list (pure functions; no registry needed)."""
from __future__ import annotations

import heapq
import random
from datetime import datetime

from services.delivery.versions import highest, natural_key
from services.registries.clients.types import TagInfo, TagList


def _random_tags(rng: random.Random, n: int) -> list[str]:
    shapes = ["{a}.{b}.{c}", "v{a}.{b}", "v{a}.{b}.{c}-rc{d}", "{a}", "release-{a}", "latest", "{a}.{b}-alpine",
              "sha-{h}", "v{a}-{b}", "{a:02d}.{b}", "V{a}.{b}"]
    out = set()
    while len(out) < n:
        out.add(rng.choice(shapes).format(a=rng.randint(0, 120), b=rng.randint(0, 30), c=rng.randint(0, 300),
                                          d=rng.randint(1, 12), h=f"{rng.getrandbits(28):07x}"))
    return list(out)


def test_highest_is_the_natural_order_top():
    rng = random.Random(7)
    for size in (0, 1, 5, 60, 700, 3000):
        names = _random_tags(rng, size)
        for limit in (1, 20, 50):
            assert highest(names, limit) == heapq.nlargest(limit, names, key=natural_key), (size, limit)


def test_highest_puts_numbers_in_version_order():
    assert highest(["v5.9", "v5.10", "v5.2", "v6.0", "latest"], 3) == ["v6.0", "v5.10", "v5.9"]
    assert highest([f"1.{i // 100}.{i % 100}" for i in range(5000)], 3) == ["1.49.99", "1.49.98", "1.49.97"]


def test_highest_with_a_newline_in_a_name_stays_correct():
    assert highest(["a\nb", "1.2", "1.10"], 2) == ["a\nb", "1.10"]


def test_tag_list_search_ignores_case_and_counts_matches():
    tags = TagList(["Alpine-3.19", "alpine-3.20", "bookworm", "3.20-slim"])
    shown, matched = tags.search(" ALPINE ", 1)
    assert matched == 2 and [t.name for t in shown] == ["alpine-3.20"]
    shown, matched = tags.search("", 10)
    assert matched == 4 and {t.name for t in shown} == set(tags.names)
    assert tags.search("nothing", 10) == ([], 0)


def test_tag_list_with_dates_orders_newest_first():
    infos = [TagInfo("v2", "sha256:b", 10, datetime(2024, 1, 2)), TagInfo("v10", "sha256:a", 10, datetime(2024, 1, 1)),
             TagInfo("v3", "sha256:c", 10, datetime(2024, 1, 3))]
    shown, matched = TagList.of(infos).search("v", 2)
    assert matched == 3 and [t.name for t in shown] == ["v3", "v2"]
    assert shown[0].digest == "sha256:c"  # the registry's details come along


def test_tag_list_without_all_dates_orders_by_version():
    infos = [TagInfo("v2", created=datetime(2024, 1, 2)), TagInfo("v10")]
    shown, _ = TagList.of(infos).search("", 5)
    assert [t.name for t in shown] == ["v10", "v2"]

