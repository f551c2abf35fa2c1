"""Speedup of the 16-run benchmark sweep with 1, 2, 4, 8, 16 workers (local process pool, and Dask).

Self-contained: needs only this repository and its venv (no network). Run from the repository root::

    .venv/bin/python benchmarks/sweep_scaling.py --out /tmp/sweep_scaling.csv --max-workers 16

For each worker count it runs ``benchmarks/sweep.toml`` (16 runs: motorway limit × 4 seeds,
a quarter of the population, 2019–2040) through ``model.experiments.run_experiment`` into a
fresh temporary folder (``resume=False``), first with the local process pool, then (if
``distributed`` is importable) on a ``dask.distributed.LocalCluster`` with that many
single-threaded worker processes. Wall time is the whole ``run_experiment`` call: planning,
the runs, and writing the combined outputs (the serial part). Speedup and efficiency are
against the 1-worker time of the same executor.

BLAS/OpenMP threads are pinned to one per process (set before numpy is imported) so that
N workers use N cores. A time budget (``--budget-s``, default 450 s) skips the remaining
configurations, marked ``skipped``, rather than overrun; the 1-worker runs go first.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIG = Path(__file__).resolve().parent / "sweep.toml"


def timed_sweep(workers: int, scheduler: str | None = None) -> float:
    from model.experiments import run_experiment

    out = Path(tempfile.mkdtemp(prefix="vmob-scaling-"))
    try:
        start = time.perf_counter()
        run_experiment(CONFIG, out, workers=workers, scheduler=scheduler, resume=False, echo=lambda s: None)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(out, ignore_errors=True)


def dask_sweep(workers: int) -> float:
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        return timed_sweep(workers, cluster.scheduler_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--budget-s", type=float, default=450.0, help="stop starting new configurations after this")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    counts = [w for w in (1, 2, 4, 8, 16, 32, 64) if w <= args.max_workers]
    executors = ["local"]
    try:
        import distributed  # noqa: F401

        if not args.no_dask:
            executors.append("dask")
    except ImportError:
        pass
    print(f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"sweep {CONFIG.name}; executors {', '.join(executors)}; workers {counts}", flush=True)
    # 1-worker runs of each executor first, then increasing worker counts, so a tight budget
    # still gives the baselines and the largest counts are the ones skipped.
    plan = [(e, w) for w in counts for e in executors]
    started = time.perf_counter()
    rows = []
    base: dict[str, float] = {}
    for executor, workers in plan:
        elapsed = time.perf_counter() - started
        projected = base.get(executor, 0.0) / workers * 1.2 + 10.0
        if elapsed + projected > args.budget_s:
            rows.append({"executor": executor, "workers": workers, "wall_s": "", "speedup": "", "efficiency": "", "status": "skipped"})
            print(f"{executor:>6} {workers:>3} workers: skipped (budget)", flush=True)
            continue
        wall = timed_sweep(workers) if executor == "local" else dask_sweep(workers)
        if workers == 1:
            base[executor] = wall
        speedup = base[executor] / wall if executor in base else float("nan")
        rows.append({"executor": executor, "workers": workers, "wall_s": round(wall, 2), "speedup": round(speedup, 2),
                     "efficiency": round(speedup / workers, 3), "status": "ok"})
        print(f"{executor:>6} {workers:>3} workers: {wall:7.1f} s  speedup {speedup:5.2f}  efficiency {100 * speedup / workers:5.1f} %",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n{'executor':>8} {'workers':>7} {'wall s':>8} {'speedup':>8} {'efficiency':>10}")
    for r in rows:
        if r["status"] == "ok":
            print(f"{r['executor']:>8} {r['workers']:>7} {r['wall_s']:>8.1f} {r['speedup']:>8.2f} {100 * r['efficiency']:>9.0f} %")
        else:
            print(f"{r['executor']:>8} {r['workers']:>7} {'skipped':>8}")
    print(f"total {time.perf_counter() - started:.0f} s; CSV: {args.out}")


if __name__ == "__main__":
    main()
