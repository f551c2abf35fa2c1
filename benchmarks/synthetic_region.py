"""A synthetic regional case: hundreds of zones on the synthetic lattice and a million persons.

The municipal model has 27 zones; the regional benchmark (issue 20, item 2) needs a zone system
of at least 600 zones on a network of at least 50,000 nodes with at least 1,000,000 persons
spread over it, run through the model's own yearly step. This module writes the zones and
builds that model:

- **Zones** (:func:`write_zones`): the cells of a regular grid over the lattice's extent
  (``benchmarks/synthetic_network.py``; the same extent, so every zone snaps to the lattice)
  nearest its centre. The central three quarters of them are the model's *home zones* (the
  study area, as Vallensbæk is in the municipal model), with seeded random population and job
  shares; the ring around them holds the *external zones*, each with seeded random jobs and
  employed residents. Written as a ``zones.toml`` and read by ``model.zones.load_zones``.
- **Persons** (:func:`region_model`): the population parameters are scaled so that the study
  area's commuting residents and in-commuters add up to ``persons`` real commuters (residents
  ×, jobs ×; the gravity model's local share is raised to 0.6, a regional value, since most
  residents of a large area work inside it: assumption, range 0.5–0.8). The model synthesises
  a sample of them (``synthesised`` agents, its own synthesiser: home zones by population
  share, workplaces by the calibrated gravity model, in-commuters' origins by it too) and the
  sample is tiled to ``persons`` agents with the weights divided, so that each agent stands
  for about one real commuter. Tiling keeps the synthesiser's memory small (it draws from
  agents × zones probability arrays); the persons then spread over the zone pairs as the
  sample does (tens of thousands of distinct agents over the OD matrix).

Everything else is the model as it runs for Vallensbæk: transit lines, traffic counts
(through traffic on the lattice's named motorways), parameters, the yearly step.

    .venv/bin/python benchmarks/synthetic_region.py --zones 600 --out /tmp/region_zones.toml
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_network import extent

from model.settings import CRS_METRIC, CRS_WGS84

if TYPE_CHECKING:
    from model.simulation import MobilityModel, ModelContext

#: Share of the zones that are home zones (the study area), the rest external.
HOME_SHARE = 0.75
#: Residents' share working inside the study area (gravity target; assumption, 0.5–0.8).
REGIONAL_LOCAL_SHARE = 0.6
#: Share of the persons that are in-commuters (assumption for the benchmark).
INCOMMUTER_SHARE = 0.2


def zone_grid(n_zones: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centroids (EPSG:25832) of the ``n_zones`` cells of a grid over the lattice's extent nearest its centre.

    Also returns which are home zones: the ``HOME_SHARE`` of them nearest the centre.
    """
    x0, x1, y0, y1 = extent()
    k = math.ceil(math.sqrt(n_zones))
    while True:
        xs = x0 + (np.arange(k) + 0.5) * (x1 - x0) / k
        ys = y0 + (np.arange(k) + 0.5) * (y1 - y0) / k
        gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
        distance = np.maximum(np.abs(gx - (x0 + x1) / 2) / (x1 - x0), np.abs(gy - (y0 + y1) / 2) / (y1 - y0))
        order = np.argsort(distance, kind="stable")
        n_home = int(round(HOME_SHARE * n_zones))
        if len(gx) >= n_zones:
            keep = order[:n_zones]
            home = np.zeros(n_zones, dtype=bool)
            home[:n_home] = True
            return gx[keep], gy[keep], home
        k += 1


def write_zones(path: Path, n_zones: int = 600, seed: int = 0) -> Path:
    """Write a ``zones.toml`` of ``n_zones`` zones (home zones first) over the lattice's extent."""
    x, y, home = zone_grid(n_zones)
    rng = np.random.default_rng(seed)
    lon, lat = Transformer.from_crs(CRS_METRIC, CRS_WGS84, always_xy=True).transform(x, y)
    n_home = int(home.sum())
    pop = rng.uniform(0.5, 1.5, n_home)
    jobs = rng.uniform(0.2, 1.8, n_home)
    pop, jobs = pop / pop.sum(), jobs / jobs.sum()
    pop[-1] = 1.0 - pop[:-1].sum()
    jobs[-1] = 1.0 - jobs[:-1].sum()
    source = "synthetic (benchmarks/synthetic_region.py)"
    lines = ["# Synthetic regional zone system for the benchmark; not real data.", ""]
    for i in range(n_home):
        lines += ["[[home_zones]]", f'id = "h{i:04d}"', f'name = "Home zone {i}"', f"lat = {lat[i]:.7f}", f"lon = {lon[i]:.7f}",
                  f"population_share = {pop[i]:.17g}", f"jobs_share = {jobs[i]:.17g}", f'source = "{source}"', ""]
    for i in range(n_home, len(x)):
        lines += ["[[destinations]]", f'id = "x{i:04d}"', f'name = "External zone {i}"', f"lat = {lat[i]:.7f}",
                  f"lon = {lon[i]:.7f}", f"jobs = {rng.uniform(5_000, 40_000):.0f}", "jobs_year = 2019",
                  f"employed_residents = {rng.uniform(5_000, 40_000):.0f}", f'source = "{source}"', ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def region_overrides(persons: int) -> dict[str, object]:
    """Parameter overrides that make the study area's commuters about ``persons`` real people."""
    from model.parameters import load_parameters

    base = load_parameters().population
    residents = (1.0 - INCOMMUTER_SHARE) * persons
    factor = residents / (base.residents.population_in(2019) * base.residents.commuters_per_resident)
    jobs = residents * REGIONAL_LOCAL_SHARE + INCOMMUTER_SHARE * persons
    job_factor = jobs / base.jobs.count_in(2019)
    return {
        "population.residents.population": {str(y): v * factor for y, v in base.residents.population.items()},
        "population.jobs.count": {str(y): v * job_factor for y, v in base.jobs.count.items()},
        "population.gravity.target_local_share": REGIONAL_LOCAL_SHARE,
    }


def region_context(network: Path, zones: Path) -> ModelContext:
    """``ModelContext.load(network=network, zones=zones)``, pickled next to the network after the first read.

    Reading the 50,000-node lattice's OSM XML takes a minute or more (cases 2 and 8 measure the
    reading); the pickle lets the regional case time the model itself. It is rebuilt when the
    network or zones file is newer than it.
    """
    from model.simulation import ModelContext

    cached = network.with_name(f"{network.stem}.{zones.stem}.context.pkl")
    if cached.exists() and cached.stat().st_mtime > max(network.stat().st_mtime, zones.stat().st_mtime):
        with cached.open("rb") as fh:
            context = pickle.load(fh)
        if isinstance(context, ModelContext):
            return context
    context = ModelContext.load(network=network, zones=zones)
    with cached.open("wb") as fh:
        pickle.dump(context, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return context


def region_model(
    context: ModelContext, persons: int, synthesised: int = 50_000, end_year: int = 2020, seed: int = 1
) -> MobilityModel:
    """The model on the regional ``context`` (:func:`region_context`) with ``persons`` agents (a synthesised sample, tiled)."""
    from cases import replicate

    from model.parameters import load_parameters
    from model.population import weights_in
    from model.simulation import MobilityModel

    params = load_parameters(region_overrides(persons))
    fraction = min(1.0, synthesised / persons)
    model = MobilityModel(context, params, end_year=end_year, sample_fraction=fraction, rng=seed, create_agents=False)
    model.population = replicate(model.population, persons)
    model.weights = weights_in(model.population, model.params.population, model.start_year)
    model.bought_new = np.zeros(persons, dtype=bool)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    write_zones(args.out, args.zones, args.seed)
    print(f"wrote {args.zones} zones to {args.out}")


if __name__ == "__main__":
    main()
