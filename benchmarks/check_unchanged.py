"""Check that a performance change leaves the model's results unchanged.

Runs the given experiments' runs (full population unless ``--sample-fraction``), keeps every
output table and the link volumes, and either saves them or compares them with a saved copy::

    .venv/bin/python benchmarks/check_unchanged.py --save /tmp/before.pkl      # before the change
    .venv/bin/python benchmarks/check_unchanged.py --compare /tmp/before.pkl   # after it

Comparison is exact (``pandas.testing.assert_frame_equal(check_exact=True)``) unless
``--rtol`` is given; then each table's largest relative difference is printed too.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.experiments import plan_experiment, simulate

DEFAULT_EXPERIMENTS = ("experiments/baseline.toml", "experiments/climate_plan.toml")


def collect(experiments: list[str], sample_fraction: float | None, seed: int) -> dict[str, pd.DataFrame]:
    """Every table of the first run of each experiment (with ``seed``), keyed ``<experiment>/<table>``."""
    out: dict[str, pd.DataFrame] = {}
    for path in experiments:
        plan = plan_experiment(ROOT / path, Path("/tmp/vmob-check"))
        spec = plan.specs[0]
        changes = {"seed": seed}
        if sample_fraction is not None:
            changes["sample_fraction"] = sample_fraction
        from dataclasses import replace

        spec = replace(spec, **changes)
        start = time.perf_counter()
        result = simulate(spec)
        print(f"{path}: {time.perf_counter() - start:.1f} s")
        for name, table in result.tables.items():
            out[f"{plan.config.name}/{name}"] = table
        out[f"{plan.config.name}/link_volumes"] = result.link_volumes
    return out


def largest_relative_difference(before: pd.DataFrame, after: pd.DataFrame) -> tuple[float, str]:
    """Largest ``|after − before| / |before|`` over the numeric cells (0 where equal), and its column."""
    numeric = list(before.select_dtypes("number").columns)
    if not numeric:
        return 0.0, ""
    a = before[numeric].to_numpy(dtype=float)
    b = after[numeric].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.nan_to_num(np.where(a == b, 0.0, np.abs(b - a) / np.abs(a)), nan=0.0)
    column = int(np.argmax(relative.max(axis=0)))
    return float(relative[:, column].max()), str(numeric[column])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--save", type=Path)
    group.add_argument("--compare", type=Path)
    parser.add_argument("--experiments", nargs="*", default=list(DEFAULT_EXPERIMENTS))
    parser.add_argument("--sample-fraction", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rtol", type=float, default=None, help="relative tolerance (default: exact)")
    args = parser.parse_args()
    tables = collect(args.experiments, args.sample_fraction, args.seed)
    if args.save:
        args.save.write_bytes(pickle.dumps(tables))
        print(f"saved {len(tables)} tables to {args.save}")
        return
    before = pickle.loads(args.compare.read_bytes())
    missing = sorted(set(before) - set(tables))
    assert not missing, f"tables of the reference no longer produced: {missing}"
    for name in sorted(set(tables) - set(before)):
        print(f"{name}: new table, not in the reference")
    for name in sorted(before):
        if args.rtol is None:
            pd.testing.assert_frame_equal(before[name], tables[name], check_exact=True)
            print(f"{name}: {len(tables[name])} rows identical")
        else:
            pd.testing.assert_frame_equal(before[name], tables[name], check_exact=False, rtol=args.rtol)
            largest, column = largest_relative_difference(before[name], tables[name])
            print(f"{name}: equal within rtol {args.rtol} (largest relative difference {largest:.2e}, {column or '-'})")
    print("all tables unchanged")


if __name__ == "__main__":
    main()
