"""Wall and CPU time and headline figures of the municipal baseline (2019–2050), for side-by-side runs.

Issue 13 asks that routing the through traffic in three periods keep the baseline under 3× the
time of the fixed through traffic before it. Run from the root of each tree at the same time
(e.g. the commit before in a ``git worktree``), so both see the same machine load::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/through_traffic_timing.py before
    PYTHONPATH=$PWD .venv/bin/python benchmarks/through_traffic_timing.py after

Prints wall and CPU seconds of the model run (tables included, output files not), the territorial
and through CO2, the car share and the vehicle-km inside the boundary in 2019, 2030 and 2050, and
the assignment's relative gaps per period where the model records them. Not a timed test
(docs/performance.md).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.simulation import MobilityModel, ModelContext


def main() -> None:
    """Run the baseline once and print its times and figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", nargs="?", default="run")
    parser.add_argument("--sample-fraction", type=float, default=1.0)
    parser.add_argument("--end-year", type=int, default=2050)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    context = ModelContext.load()
    wall, cpu = time.perf_counter(), time.process_time()
    model = MobilityModel(context, end_year=args.end_year, sample_fraction=args.sample_fraction, rng=1, create_agents=False)
    model.run()
    summary = model.results()["summary"].set_index("year")
    print(f"{args.label}: wall {time.perf_counter() - wall:.1f} s, CPU {time.process_time() - cpu:.1f} s")
    print("year  territorial_t  through_t  car_share  vkm_inside_M")
    for year in (2019, 2030, 2050):
        if year in summary.index:
            row = summary.loc[year]
            print(f"{year}  {row['co2_territorial_t']:13,.0f}  {row['co2_through_t']:9,.0f}  {row['share_car']:9.4f}  "
                  f"{row['vkm_inside_per_year'] / 1e6:12.1f}")
    gaps = np.array(list(getattr(model, "period_gaps", {}).values()), dtype=float)
    if len(gaps):
        print(f"relative gap per period and year: max {np.nanmax(gaps):.4f}, mean {np.nanmean(gaps):.4f}")


if __name__ == "__main__":
    main()
