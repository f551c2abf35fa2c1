"""Paired lever effects on commuting and on all residents' trips (issue 14; docs/levers.md).

Runs the baseline, the Letbane and the cycling (all bike links inside) scenarios with the same
seeds, and prints each lever's 2030 effect, paired by seed, on the commuters' car share, the car
share of all residents' trips (every purpose), territorial and resident-accounting CO2::

    PYTHONPATH=. .venv/bin/python benchmarks/purpose_levers.py --seeds 3 --sample-fraction 0.3

Works on code without purposes too (then the all-purpose share is the commute share).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.config import load_config
from model.simulation import MobilityModel, ModelContext

SCENARIOS = {
    "baseline": ("letbane.toml", "baseline"),
    "letbane": ("letbane.toml", "letbane"),
    "cycling": ("cycling.toml", "cycling_all_inside"),
}


def figures(tables: dict[str, pd.DataFrame], year: int) -> dict[str, float]:
    """The year's headline figures of one run."""
    summary = tables["summary"].set_index("year").loc[year]
    split = tables["mode_split"]
    residents = split[(split["year"] == year) & (split["road_user"] == "resident")]
    trips = "trips_per_day" if "trips_per_day" in residents else "trips_per_weekday"
    by_mode = residents.groupby("mode")[trips].sum()
    return {
        "share_car_commute": float(summary["share_car"]) * 100,
        "share_car_all_trips": float(by_mode.get("car", 0.0) / by_mode.sum()) * 100,
        "co2_territorial_t": float(summary["co2_territorial_t"]),
        "co2_resident_t": float(summary["co2_resident_t"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sample-fraction", type=float, default=0.3)
    parser.add_argument("--end-year", type=int, default=2030)
    args = parser.parse_args()
    context = ModelContext.load()
    rows = []
    started = time.perf_counter()
    for seed in range(1, args.seeds + 1):
        for name, (file, scenario) in SCENARIOS.items():
            levers = copy.deepcopy(load_config(ROOT / "experiments" / file).scenarios[scenario].levers)
            model = MobilityModel(context, levers=levers, end_year=args.end_year, sample_fraction=args.sample_fraction,
                                  rng=seed, create_agents=False)
            model.run()
            rows.append({"seed": seed, "scenario": name, **figures(model.results(), args.end_year)})
    frame = pd.DataFrame(rows)
    print(f"# {args.seeds} seeds, sample {args.sample_fraction}, {args.end_year}: {time.perf_counter() - started:.0f} s\n")
    base = frame[frame["scenario"] == "baseline"].set_index("seed")
    print("| lever | figure | baseline | paired effect (mean) | 95 % interval |\n|---|---|---|---|---|")
    for name in SCENARIOS:
        if name == "baseline":
            continue
        lever = frame[frame["scenario"] == name].set_index("seed")
        for col in ("share_car_commute", "share_car_all_trips", "co2_territorial_t", "co2_resident_t"):
            diff = (lever[col] - base[col]).to_numpy()
            half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            print(f"| {name} | {col} | {base[col].mean():,.2f} | {diff.mean():+,.2f} | ±{half:,.2f} |")


if __name__ == "__main__":
    main()
