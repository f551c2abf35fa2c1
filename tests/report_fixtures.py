"""A realistic results folder for the report tests, made by the model on the tiny network.

It mimics what the experiment runner writes into ``results/<experiment>/``: the long tables
and their data package, ``runs.csv``, ``aggregates.csv``, ``network_links.parquet``,
``link_volumes.parquet`` and ``manifest.json``. The levers here are small stand-ins (the
real ones live in ``model/levers.py``); they only need ``start`` and ``apply``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model import outputs
from model.parameters import load_parameters
from model.simulation import MobilityModel, ModelContext
from model.supply_state import SupplyState
from tests.osm_fixtures import write_tiny_inputs


@dataclass
class NarrowRoad:
    """Fewer lanes and a lower limit on the named road from ``start``."""

    road: str
    lanes_total: int
    maxspeed_kph: float
    start: dt.date

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        e = supply.edges
        sel = e.name.astype(str) == self.road
        ratio_lanes = self.lanes_total / np.maximum(e.lanes_total[sel], 1)
        e.capacity_vph[sel] = e.capacity_vph[sel] * ratio_lanes
        e.lanes[sel] = np.maximum(1, np.rint(e.lanes[sel] * ratio_lanes)).astype(e.lanes.dtype)
        e.lanes_total[sel] = self.lanes_total
        _set_limit(e, sel, self.maxspeed_kph)

    def describe(self) -> dict[str, Any]:
        return {"kind": "lane_narrowing", "start": self.start.isoformat(), "roads": [self.road],
                "lanes_total": self.lanes_total, "maxspeed_kph": self.maxspeed_kph}


@dataclass
class MotorwayLimit:
    """A lower limit on every motorway edge from ``start``."""

    maxspeed_kph: float
    start: dt.date

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        e = supply.edges
        _set_limit(e, e.road_category.astype(str) == "motorway", self.maxspeed_kph)

    def describe(self) -> dict[str, Any]:
        return {"kind": "speed_limit", "start": self.start.isoformat(), "road_category": "motorway",
                "maxspeed_kph": self.maxspeed_kph}


@dataclass
class Chargers:
    """Public chargers in the municipality: replaces the path from ``start``."""

    path: dict[int, float]
    start: dt.date
    name: str = "chargers"

    def apply(self, supply: SupplyState, date: dt.date) -> None:
        supply.local_chargers.update(self.path)

    def describe(self) -> dict[str, Any]:
        return {"kind": "ev_chargers", "start": self.start.isoformat(), "path": {str(k): v for k, v in self.path.items()}}


def _set_limit(e: Any, sel: np.ndarray, kph: float) -> None:
    ratio = kph / np.maximum(e.maxspeed_kph[sel], 1.0)
    e.speed_kph[sel] = e.speed_kph[sel] * ratio
    e.maxspeed_kph[sel] = kph


QUESTION = "How far do the climate plan's transport levers take territorial transport CO2 by 2030 and 2050?"
CHARGER_PATHS = {"slow": {2030: 10.0, 2050: 20.0}, "fast": {2024: 20.0, 2030: 80.0, 2050: 150.0}}


@dataclass
class Scenario:
    name: str
    levers: list[Any] = field(default_factory=list)
    description: str = ""


def default_scenarios() -> list[Scenario]:
    return [
        Scenario("baseline", [], "No new levers after 2019 (the Letbane opens as planned)."),
        Scenario("ring_narrowing", [NarrowRoad("Søndre Ringvej", 2, 40.0, dt.date(2024, 1, 1))],
                 "Søndre Ringvej narrowed from four lanes to two, 40 km/h."),
        Scenario("motorway_80", [MotorwayLimit(80.0, dt.date(2027, 1, 1))], "Motorway limit 80 km/h from 2027."),
    ]


def write_demo_results(
    folder: Path,
    *,
    experiment: str = "demo",
    scenarios: list[Scenario] | None = None,
    sweep: dict[str, list[Any]] | None = None,
    seeds: tuple[int, ...] = (1, 2),
    end_year: int = 2050,
    sample_fraction: float = 0.1,
) -> Path:
    """Run the tiny model for every scenario × sweep point × seed and write a runner-like folder.

    ``sweep`` may name ``levers.motorway.maxspeed_kph`` (a number) and ``levers.chargers.path``
    (``slow``/``fast``); labels and ``runs.csv`` follow the runner (``<scenario>__<name>=<value>``).
    """
    folder = Path(folder)
    inputs = write_tiny_inputs(folder.parent / f".inputs-{experiment}")
    ctx = ModelContext.load(inputs["osm"], inputs["zones"], inputs["transit"], inputs["counts"], inputs["boundary"])
    scenarios = scenarios if scenarios is not None else default_scenarios()
    points: list[dict[str, Any]] = [{}]
    if sweep:
        import itertools

        keys = list(sweep)
        points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*sweep.values())]
    params = load_parameters({"population.gravity.target_mean_km": 2.0})
    tables: dict[str, list[pd.DataFrame]] = {}
    links: list[pd.DataFrame] = []
    runs = []
    for scenario in scenarios:
        for point in points:
            label = "__".join([scenario.name] + [f"{k.split('.', 1)[1]}={v}" for k, v in point.items()])
            for seed in seeds:
                levers = list(scenario.levers)
                if "levers.motorway.maxspeed_kph" in point:
                    levers.append(MotorwayLimit(float(point["levers.motorway.maxspeed_kph"]), dt.date(2025, 1, 1)))
                if "levers.chargers.path" in point:
                    levers.append(Chargers(CHARGER_PATHS[point["levers.chargers.path"]], dt.date(2024, 1, 1)))
                model = MobilityModel(
                    ctx, params, levers, start_year=2019, end_year=end_year, sample_fraction=sample_fraction, rng=seed,
                    labels={"experiment": experiment, "scenario": label, "seed": seed},
                )
                model.run()
                for name, table in model.results().items():
                    tables.setdefault(name, []).append(table)
                links.append(model.link_volumes())
                run_id = hashlib.sha256(f"{label}/{seed}".encode()).hexdigest()[:12]
                runs.append({"run_id": run_id, "scenario": scenario.name, "label": label, "seed": seed, **point})
    merged = {name: pd.concat(frames, ignore_index=True) for name, frames in tables.items()}
    outputs.write_tables(merged, folder, experiment_name=experiment)
    pd.DataFrame(runs).to_csv(folder / "runs.csv", index=False)
    summary = merged["summary"]
    figures = [c for c in summary.columns if c not in ("experiment", "scenario", "seed", "year")]
    grouped = summary.groupby(["scenario", "year"])[figures]
    agg = pd.concat(
        {"mean": grouped.mean(), "p5": grouped.quantile(0.05), "p95": grouped.quantile(0.95)}, axis=1
    )
    agg.columns = [f"{figure}_{stat}" for stat, figure in agg.columns]
    agg.reset_index().rename(columns={"scenario": "label"}).to_csv(folder / "aggregates.csv", index=False)
    ctx.links_frame().to_parquet(folder / "network_links.parquet")
    pd.concat(links, ignore_index=True).to_parquet(folder / "link_volumes.parquet", index=False)
    manifest = {  # the keys the runner (model/experiments.py) writes
        "experiment": experiment,
        "question": QUESTION,
        "config_file": str(folder.parent / f"{experiment}.toml"),
        "config": {
            "name": experiment, "question": QUESTION, "start_year": 2019, "end_year": end_year,
            "sample_fraction": sample_fraction, "seeds": list(seeds),
            "scenarios": {s.name: {"description": s.description, "levers": [lv.describe() for lv in s.levers]} for s in scenarios},
            "sweep": {"mode": "grid", "parameters": {k: list(v) for k, v in (sweep or {}).items()}} if sweep else None,
            "inputs": {"network": str(inputs["osm"]), "boundary": str(inputs["boundary"])},
        },
        "config_hash": hashlib.sha256(json.dumps([experiment, list(seeds), sorted(sweep or {})]).encode()).hexdigest(),
        "git": {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": False},
        "packages": {"vallensbaek-mobility": "0.1.0"},
        "inputs": {"sources": dict(ctx.sources), "sha256": {}},
        "seeds": list(seeds),
        "runs": [{**r, "wall_time_s": 1.0} for r in runs],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return folder
