"""Run every benchmark in one process and print the ratios side by side."""
from __future__ import annotations

import importlib
import sys

BENCHES = ["bench.lists", "bench.retention", "bench.tag_search", "bench.overhead", "bench.polling",
           "bench.deploy_time", "bench.kube_deploy", "bench.webhooks", "bench.trust", "bench.scale"]


def main(argv: list[str]) -> int:
    chosen = [b for b in BENCHES if not argv or any(a in b for a in argv)]
    for name in chosen:
        print(f"== {name}")
        importlib.import_module(name).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
