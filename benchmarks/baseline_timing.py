"""Wall time and peak memory of the full-population baseline (2019–2050) and of one simulated year.

Run from the repository root::

    .venv/bin/python benchmarks/baseline_timing.py            # full population, seed 1
    .venv/bin/python benchmarks/baseline_timing.py --sample-fraction 0.3 --end-year 2030

Each case is run twice: once untraced for the wall time, once under
``tracemalloc`` for the peak of memory allocated while it runs (numpy arrays
included). The process's peak resident set size (``ru_maxrss``, which includes
the inputs and the libraries) is printed at the end. Not a timed test: the
performance issue sets the targets.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.simulation import MobilityModel, ModelContext


def measure(label: str, work: Callable[[], object]) -> tuple[float, float]:
    """Run ``work`` untraced (wall time) and traced (peak MiB); print and return both."""
    start = time.perf_counter()
    work()
    wall = time.perf_counter() - start
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{label:<44} {wall:8.2f} s   peak {peak / 2**20:8.1f} MiB")
    return wall, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample-fraction", type=float, default=1.0)
    parser.add_argument("--end-year", type=int, default=2050)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    print(f"python {platform.python_version()} on {platform.machine()}, {platform.processor() or 'cpu'}")
    start = time.perf_counter()
    context = ModelContext.load()
    print(f"{'read inputs (ModelContext.load)':<44} {time.perf_counter() - start:8.2f} s")

    def build() -> MobilityModel:
        return MobilityModel(context, end_year=args.end_year, sample_fraction=args.sample_fraction, rng=args.seed)

    def one_year() -> MobilityModel:
        model = MobilityModel(context, end_year=2019, sample_fraction=args.sample_fraction, rng=args.seed)
        model.run()
        return model

    def baseline() -> MobilityModel:
        model = build()
        model.run()
        model.results()
        return model

    agents = len(build().population)
    print(f"agents: {agents} (sample fraction {args.sample_fraction}), seed {args.seed}")
    measure("set-up (gravity, population, skims)", build)
    measure("one year (set-up + 2019)", one_year)
    wall, _ = measure(f"baseline 2019–{args.end_year} (+ results tables)", baseline)
    print(f"{'per simulated year':<44} {wall / (args.end_year - 2019 + 1):8.2f} s")
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 2**20 if sys.platform == "darwin" else 2**10  # bytes on macOS, KiB on Linux
    print(f"{'process peak resident set size':<44} {maxrss / scale:8.1f} MiB")


if __name__ == "__main__":
    main()
