"""make bench: every benchmark in this folder, printed as numbers and ratios (no assertions)."""
from __future__ import annotations

import sys

from . import admission, editor, kubernetes_dispatch, pipeline_overhead, simulator

BENCHMARKS = {
    "pipeline_overhead": pipeline_overhead.main,
    "admission": admission.main,
    "simulator": simulator.main,
    "editor": editor.main,
    "kubernetes_dispatch": kubernetes_dispatch.main,
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
