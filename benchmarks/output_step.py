"""CPU time of the serial output step (``model.experiments.write_outputs``) and of its parts.

Runs the experiment once (runs go to the run cache; nothing is timed), then calls
``write_outputs`` ``--repeat`` times on the cached runs and prints the CPU seconds
(``time.process_time``, which a loaded machine inflates less than wall time) of the whole step
and of each part that exists in the code being measured: combining the runs, the schema checks,
the frictionless validation, the CSV/Parquet files, the workbook and the report's figures::

    .venv/bin/python benchmarks/output_step.py benchmarks/sweep.toml --out /tmp/out-step
    .venv/bin/python benchmarks/output_step.py experiments/baseline.toml --out /tmp/out-step

Not a timed test: docs/performance.md records the figures with this command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import experiments as ex
from model import outputs
from model.config import load_config

#: (module, function name, label) of the parts timed where the code has them.
PARTS: tuple[tuple[Any, str, str], ...] = (
    (ex, "combine", "combine runs"),
    (ex, "check_reconciliation", "reconciliation"),
    (outputs, "check_table", "schema checks (DataFrame)"),
    (outputs, "_validate_package", "frictionless (package, first rows)"),
    (outputs, "_validate_resource", "frictionless (every row)"),
    (outputs, "_write_workbook", "workbook"),
)


def timed(times: dict[str, list[float]], label: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` that adds its CPU seconds to ``times[label]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            times[label].append(time.process_time() - start)
    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    ex.run_experiment(args.experiment, args.out, workers=1, echo=lambda _line: None)
    config = load_config(args.experiment)
    parts = PARTS
    if config.outputs.report:
        from model import report

        parts = (*PARTS, (report, "build_figures", "report figures"), (report, "build_report", "report (all)"))
    plan = ex.plan_experiment(args.experiment, args.out, config)
    totals: list[float] = []
    per_part: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.repeat):
        times: dict[str, list[float]] = defaultdict(list)
        originals = [(m, n, getattr(m, n)) for m, n, _ in parts if hasattr(m, n)]
        for (module, name, label) in ((m, n, lab) for m, n, lab in parts if hasattr(m, n)):
            setattr(module, name, timed(times, label, getattr(module, name)))
        try:
            start = time.process_time()
            with ex.writing_folder(plan.out_dir, lambda _line: None):
                ex.write_outputs(plan, dt.datetime.now(dt.UTC), "benchmark")
            totals.append(time.process_time() - start)
        finally:
            for module, name, func in originals:
                setattr(module, name, func)
        for label, values in times.items():
            per_part[label].append(sum(values))
    print(f"{args.experiment}: write_outputs CPU s, median of {args.repeat}: {statistics.median(totals):.2f} "
          f"(runs: {', '.join(f'{t:.2f}' for t in totals)})")
    for label, values in per_part.items():
        print(f"  {label:<36} {statistics.median(values):7.2f}")


if __name__ == "__main__":
    main()
