"""Speedup of the 16-run benchmark sweep with 1, 2, 4, 8, 16 workers (local process pool, and Dask).

Self-contained: needs only this repository and its venv (no network). Run from the repository root::

    .venv/bin/python benchmarks/sweep_scaling.py --out /tmp/sweep_scaling.csv --max-workers 16

For each worker count it runs ``benchmarks/sweep.toml`` (16 runs: motorway limit × 4 seeds,
a quarter of the population, 2019–2040) through ``model.experiments.run_experiment`` into a
fresh temporary folder (``resume=False``), first with the local process pool, then (if
``distributed`` is importable) on a ``dask.distributed.LocalCluster`` with that many
single-threaded worker processes. Wall time is the whole ``run_experiment`` call: planning,
the runs, and writing the combined outputs (by default only the summary table: ``--outputs
minimal``; ``--outputs full`` keeps the config's, which adds ~40 s of serial work); the last (``write_outputs``: combined tables, the
``summary.xlsx`` workbook, link volumes, manifest) runs serially in this process and is timed
apart, so the table gives the speedup of the whole call and of the rest ("runs only"). Speedup
and efficiency are against the 1-worker time of the same executor.

BLAS/OpenMP threads are pinned to one per process (set before numpy is imported) so that
N workers use N cores. A time budget (``--budget-s``, default 450 s) skips the remaining
configurations, marked ``skipped``, rather than overrun; the 1-worker runs go first.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import csv
import importlib.util
import platform
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CONFIG = Path(__file__).resolve().parent / "sweep.toml"
#: ``--outputs minimal``: only the summary table combined, no link volumes, no report, so the
#: serial tail of ``run_experiment`` is a few seconds instead of ~40 s (mostly summary.xlsx).
MINIMAL_OUTPUTS = '[outputs]\ntables = ["summary"]\nlink_volumes = false\n'


def config_file(outputs: str) -> Path:
    """The sweep config, as is (``full``) or with the minimal outputs written to a temporary copy."""
    if outputs == "full":
        return CONFIG
    text = CONFIG.read_text(encoding="utf-8").replace("[outputs]\n", MINIMAL_OUTPUTS)
    path = Path(tempfile.mkdtemp(prefix="vmob-scaling-config-")) / CONFIG.name
    path.write_text(text, encoding="utf-8")
    return path


def timed_sweep(workers: int, scheduler: str | None = None, config: Path = CONFIG) -> tuple[float, float]:
    """Wall time of ``run_experiment`` and the part of it spent in ``write_outputs`` (serial, in this process)."""
    import model.experiments as ex

    spent = [0.0]
    original = ex.write_outputs

    def timed_write(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - t0

    out = Path(tempfile.mkdtemp(prefix="vmob-scaling-"))
    ex.write_outputs = timed_write
    try:
        start = time.perf_counter()
        ex.run_experiment(config, out, workers=workers, scheduler=scheduler, resume=False, echo=lambda s: None)
        return time.perf_counter() - start, spent[0]
    finally:
        ex.write_outputs = original
        shutil.rmtree(out, ignore_errors=True)


def dask_sweep(workers: int, config: Path = CONFIG) -> tuple[float, float]:
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        return timed_sweep(workers, cluster.scheduler_address, config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")
    parser.add_argument("--max-workers", type=int, default=16)
    parser.add_argument("--budget-s", type=float, default=450.0, help="stop starting new configurations after this")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--outputs", choices=["minimal", "full"], default="minimal",
                        help="combined outputs: summary table only (default) or the config's full set (adds ~40 s serial per sweep)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    config = config_file(args.outputs)
    counts = [w for w in (1, 2, 4, 8, 16, 32, 64) if w <= args.max_workers]
    executors = ["local"]
    if importlib.util.find_spec("distributed") is not None and not args.no_dask:
        executors.append("dask")
    print(f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"sweep {CONFIG.name} ({args.outputs} outputs); executors {', '.join(executors)}; workers {counts}", flush=True)
    # 1-worker runs of each executor first, then increasing worker counts, so a tight budget
    # still gives the baselines and the largest counts are the ones skipped.
    plan = [(e, w) for w in counts for e in executors]
    started = time.perf_counter()
    rows = []
    base: dict[str, tuple[float, float]] = {}
    for executor, workers in plan:
        elapsed = time.perf_counter() - started
        projected = base.get(executor, (0.0, 0.0))[0] / workers * 1.2 + base.get(executor, (0.0, 0.0))[1] + 10.0
        if elapsed + projected > args.budget_s:
            rows.append({"executor": executor, "workers": workers, "wall_s": "", "outputs_s": "", "runs_s": "",
                         "speedup": "", "efficiency": "", "runs_speedup": "", "runs_efficiency": "", "status": "skipped"})
            print(f"{executor:>6} {workers:>3} workers: skipped (budget)", flush=True)
            continue
        wall, outputs = timed_sweep(workers, config=config) if executor == "local" else dask_sweep(workers, config)
        if workers == 1:
            base[executor] = (wall, outputs)
        b_wall, b_out = base.get(executor, (float("nan"), float("nan")))
        speedup = b_wall / wall
        runs_speedup = (b_wall - b_out) / (wall - outputs)
        rows.append({"executor": executor, "workers": workers, "wall_s": round(wall, 2), "outputs_s": round(outputs, 2),
                     "runs_s": round(wall - outputs, 2), "speedup": round(speedup, 2), "efficiency": round(speedup / workers, 3),
                     "runs_speedup": round(runs_speedup, 2), "runs_efficiency": round(runs_speedup / workers, 3), "status": "ok"})
        print(f"{executor:>6} {workers:>3} workers: {wall:7.1f} s (combined outputs {outputs:5.1f} s)  speedup {speedup:5.2f} "
              f"({100 * speedup / workers:5.1f} %)  runs only {runs_speedup:5.2f} ({100 * runs_speedup / workers:5.1f} %)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"\n{'executor':>8} {'workers':>7} {'wall s':>8} {'speedup':>8} {'effic.':>7} {'runs s':>8} {'speedup':>8} {'effic.':>7}")
    for r in rows:
        if r["status"] == "ok":
            print(f"{r['executor']:>8} {r['workers']:>7} {r['wall_s']:>8.1f} {r['speedup']:>8.2f} {100 * r['efficiency']:>6.0f}% "
                  f"{r['runs_s']:>8.1f} {r['runs_speedup']:>8.2f} {100 * r['runs_efficiency']:>6.0f}%")
        else:
            print(f"{r['executor']:>8} {r['workers']:>7} {'skipped':>8}")
    print(f"total {time.perf_counter() - started:.0f} s; CSV: {args.out}")


if __name__ == "__main__":
    main()
