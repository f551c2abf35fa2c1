"""CPU time of the emissions layer on the baseline's real link table (issue 20, item 3).

Runs the baseline experiment once (seed 1, whole population unless ``--sample-fraction``) and
keeps the inputs the yearly tables give :func:`model.emissions.vehicle_energy_and_co2`,
:func:`~model.emissions.rail_co2_table` and :func:`~model.emissions.co2_accounting` in one year
(saved to ``--inputs`` and read from there on later calls). Then it calls each function
``--repeat`` times and prints the median CPU seconds (``time.process_time``, which a loaded
machine inflates less than wall time). ``--rev`` also times the module as it was at a git
revision, on the same inputs, and checks that both give the same tables::

    .venv/bin/python benchmarks/emissions_codes.py --inputs /tmp/emissions-inputs.pkl --rev d9d477d

Not a timed test: docs/performance.md records the figures with this command.
"""

from __future__ import annotations

import argparse
import importlib.util
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model import emissions
from model.experiments import plan_experiment, simulate


def capture_inputs(year: int, sample_fraction: float | None) -> dict[str, Any]:
    """The emissions layer's inputs in ``year`` of the baseline run (seed 1)."""
    captured: dict[str, Any] = {}
    originals = {name: getattr(emissions, name) for name in ("vehicle_energy_and_co2", "rail_co2_table", "co2_accounting")}

    def spy(name: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # co2_accounting is the last of the three calls of a year's tables and has no year argument
            this_year = "vehicle_energy_and_co2" in captured if name == "co2_accounting" else args[1] == year
            if this_year:
                captured.setdefault(name, args)
            return originals[name](*args, **kwargs)
        return wrapper

    for name in originals:
        setattr(emissions, name, spy(name))
    try:
        plan = plan_experiment(ROOT / "experiments/baseline.toml", Path(tempfile.mkdtemp()))
        spec = replace(plan.specs[0], seed=1, end_year=max(year, plan.specs[0].start_year))
        if sample_fraction is not None:
            spec = replace(spec, sample_fraction=sample_fraction)
        simulate(spec)
    finally:
        for name, func in originals.items():
            setattr(emissions, name, func)
    return {"year": year, **captured}


def module_at(rev: str) -> ModuleType:
    """``model/emissions.py`` as it was at git revision ``rev``, imported under another name."""
    source = subprocess.run(["git", "show", f"{rev}:model/emissions.py"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "emissions_at_rev.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("emissions_at_rev", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_median(func: Callable[[], Any], repeat: int) -> float:
    """Median CPU seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.process_time()
        func()
        times.append(time.process_time() - start)
    return statistics.median(times)


def time_module(module: Any, inputs: dict[str, Any], repeat: int) -> tuple[dict[str, float], tuple[pd.DataFrame, ...]]:
    """Median CPU seconds of the three functions of ``module`` and their tables."""
    link_vkm, year, factors = inputs["vehicle_energy_and_co2"]
    rail_pkm = inputs["rail_co2_table"][0]
    vehicle_co2, rail_co2 = inputs["co2_accounting"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        energy, co2 = module.vehicle_energy_and_co2(link_vkm, year, factors)
        times = {
            "vehicle_energy_and_co2": cpu_median(lambda: module.vehicle_energy_and_co2(link_vkm, year, factors), repeat),
            "rail_co2_table": cpu_median(lambda: module.rail_co2_table(rail_pkm, year, factors), repeat),
            "co2_accounting": cpu_median(lambda: module.co2_accounting(vehicle_co2, rail_co2), repeat),
        }
    tables = (energy, co2, module.rail_co2_table(rail_pkm, year, factors), module.co2_accounting(vehicle_co2, rail_co2))
    return times, tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=Path, required=True, help="pickle of the captured inputs (written if missing)")
    parser.add_argument("--year", type=int, default=2030)
    parser.add_argument("--sample-fraction", type=float, default=None)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rev", help="also time model/emissions.py at this git revision")
    args = parser.parse_args()
    if not args.inputs.exists():
        args.inputs.write_bytes(pickle.dumps(capture_inputs(args.year, args.sample_fraction)))
    inputs = pickle.loads(args.inputs.read_bytes())
    print(f"year {inputs['year']}: {len(inputs['vehicle_energy_and_co2'][0]):,} link rows, "
          f"{len(inputs['rail_co2_table'][0])} rail rows, {len(inputs['co2_accounting'][0])} vehicle CO2 rows")
    candidates: list[tuple[str, Any]] = [("working tree", emissions)]
    if args.rev:
        candidates.insert(0, (f"at {args.rev}", module_at(args.rev)))
    results = {label: time_module(module, inputs, args.repeat) for label, module in candidates}
    print(f"{'function':<26}" + "".join(f"{label:>18}" for label in results) + f"   (median CPU s of {args.repeat} calls)")
    for name in ("vehicle_energy_and_co2", "rail_co2_table", "co2_accounting"):
        print(f"{name:<26}" + "".join(f"{times[name]:>18.4f}" for times, _ in results.values()))
    if args.rev:
        (_, before), (_, after) = results.values()
        for label, old, new in zip(("energy", "vehicle co2", "rail co2", "co2 accounting"), before, after, strict=True):
            pd.testing.assert_frame_equal(old, new, check_exact=False, rtol=1e-12)
            exact = old.equals(new)
            print(f"{label}: {len(new)} rows, {'identical' if exact else 'equal within rtol 1e-12'}")


if __name__ == "__main__":
    main()
