"""A realistic results folder for the report tests, made by the model on the tiny network.

It mimics what the experiment runner writes into ``results/<experiment>/``: the long tables
and their data package, ``runs.csv``, ``aggregates.csv``, ``network_links.parquet``,
``link_volumes.parquet`` and ``manifest.json`` (levers recorded as the runner records them,
``model_dump(mode="json")`` of the lever classes of ``model/levers.py``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from model import outputs
from model.levers import Chargers, LaneReduction, Lever, SpeedLimit
from model.parameters import load_parameters
from model.simulation import MobilityModel, ModelContext
from tests.osm_fixtures import write_tiny_inputs


def ring_narrowing(start: dt.date) -> list[Lever]:
    """Søndre Ringvej from four lanes to two and 40 km/h from ``start``."""
    return [
        LaneReduction(kind="lane_reduction", roads=["Søndre Ringvej"], lanes_from=4, lanes_to=2, inside_only=False, start=start),
        SpeedLimit(kind="speed_limit", roads=["Søndre Ringvej"], limit_kph=40.0, start=start),
    ]


def motorway_limit(limit_kph: float, start: dt.date) -> SpeedLimit:
    """A lower limit on every motorway link from ``start``."""
    return SpeedLimit(kind="speed_limit", road_category=["motorway"], limit_kph=limit_kph, start=start)


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
        Scenario("ring_narrowing", ring_narrowing(dt.date(2024, 1, 1)), "Søndre Ringvej narrowed from four lanes to two, 40 km/h."),
        Scenario("motorway_80", [motorway_limit(80.0, dt.date(2027, 1, 1))], "Motorway limit 80 km/h from 2027."),
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
                    levers.append(motorway_limit(float(point["levers.motorway.maxspeed_kph"]), dt.date(2025, 1, 1)))
                if "levers.chargers.path" in point:
                    levers.append(Chargers(kind="chargers", path=CHARGER_PATHS[point["levers.chargers.path"]], start=dt.date(2024, 1, 1)))
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
            "scenarios": {
                s.name: {"description": s.description, "levers": [lv.model_dump(mode="json") for lv in s.levers]}
                for s in scenarios
            },
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
