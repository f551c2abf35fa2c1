"""The benchmark cases of ``benchmarks/run.py``; each runs in its own process and returns rows.

A row is ``{"case", "size", "wall_s", "peak_mb", "ratio", "comparator"}``; ``peak_mb`` is the
case process's peak resident set size (``ru_maxrss``: libraries and inputs included), so every
case starts from a fresh interpreter.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import fields
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH = Path(__file__).resolve().parent
CACHE = ROOT / "networks" / "cache" / "bench"

from model.choice import probabilities, transit_fare_dkk, utilities
from model.population import Population, draw_categorical, weights_in
from model.simulation import MobilityModel, ModelContext
from model.vocabulary import MODES

SEED = 1


def peak_mb() -> float:
    """Peak resident set size of this process so far, MB."""
    scale = 2**20 if sys.platform == "darwin" else 2**10
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def current_mb() -> float:
    """Resident set size of this process now, MB (Linux; peak elsewhere)."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return peak_mb()


def row(case: str, size: str, wall: float, ratio: float | None = None, comparator: str = "", peak: float | None = None) -> dict:
    return {"case": case, "size": size, "wall_s": wall, "peak_mb": peak_mb() if peak is None else peak,
            "ratio": ratio, "comparator": comparator}


def lattice(nodes: int) -> Path:
    """The synthetic OSM network of about ``nodes`` nodes (written once, cached in networks/cache/bench)."""
    from synthetic_network import write_osm

    path = CACHE / f"lattice_{nodes}.osm"
    if not path.exists():
        write_osm(path, nodes)
    return path


def replicate(population: Population, n: int) -> Population:
    """The population tiled to ``n`` agents (copies of the synthesised ones, weights divided)."""
    reps = math.ceil(n / len(population))
    out = {}
    for f in fields(Population):
        value = getattr(population, f.name)
        out[f.name] = np.concatenate([value] * reps)[:n]
    out["base_weight"] = out["base_weight"] * len(population) / n
    return Population(**out)


def scaled_model(context: ModelContext, n_agents: int, end_year: int, create_agents: bool) -> MobilityModel:
    """A model whose population is the full synthetic one replicated to ``n_agents``."""
    model = MobilityModel(context, end_year=end_year, rng=SEED, create_agents=False)
    model.population = replicate(model.population, n_agents)
    model.weights = weights_in(model.population, model.params.population, model.start_year)
    if create_agents:
        from model.agents import Commuter

        for index in range(n_agents):
            Commuter(model, index)
    return model


# ---------------------------------------------------------------------------------------- cases


def case_municipal() -> list[dict]:
    context = ModelContext.load()
    start = time.perf_counter()
    model = MobilityModel(context, rng=SEED)
    model.run()
    model.results()
    wall = time.perf_counter() - start
    return [row("1 municipal baseline 2019-2050", f"{len(model.population):,} agents, {context.edges.n_nodes:,} nodes",
                wall, wall / 30.0, "target 30 s")]


def case_network(nodes: int = 50_000) -> list[dict]:
    path = lattice(nodes)
    start = time.perf_counter()
    context = ModelContext.load(network=path)
    load = time.perf_counter() - start
    model = MobilityModel(context, rng=SEED)
    model.run()
    model.results()
    wall = time.perf_counter() - start
    size = f"{len(model.population):,} agents, {context.edges.n_nodes:,} nodes, {len(context.edges.u):,} edges"
    return [row("2 network-scale baseline 2019-2050 (incl. OSM load)", size, wall, wall / 300.0,
                f"target 300 s; load {load:.0f} s")]


def case_regional(n_agents: int = 1_000_000) -> list[dict]:
    context = ModelContext.load()
    start = time.perf_counter()
    model = scaled_model(context, n_agents, 2019, create_agents=False)
    built = time.perf_counter() - start
    model.step()
    model.results()
    wall = time.perf_counter() - start
    rows = [row("3 regional: one year, no Mesa agents", f"{n_agents:,} agents", wall, wall / 120.0,
                f"target 120 s (set-up {built:.1f} s)")]
    from model.agents import Commuter

    before = current_mb()
    start = time.perf_counter()
    for index in range(n_agents):
        Commuter(model, index)
    agents = time.perf_counter() - start
    extra = current_mb() - before
    rows.append(row("3b creating the Commuter agents", f"{n_agents:,} agents", agents, None,
                    f"{1e6 * agents / n_agents:.1f} us and +{1e3 * extra / n_agents * 1.048576:.2f} kB per agent (RSS)"))
    return rows


def plain_mesa_choice(model: MobilityModel) -> tuple[object, list[float]]:
    """The yearly choice written the plain Mesa way: one agent object with a ``step()`` per commuter."""
    import mesa

    skims, params = model.skims, model.params.choice
    coef = params.coefficients
    zones = model.context.zones
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    generalised = skims.car_generalised_min.tolist()  # route class × home × work
    route_class = list(skims.car_routes.of_powertrain)
    parking = [params.costs.parking_dkk_per_trip.get(z, 0.0) for z in zones.ids]
    fare = transit_fare_dkk(zones.straight_line_km(), params).tolist()
    constants = [params.constants[m] for m in MODES]
    L = {name: getattr(skims, name).tolist() for name in ("car_time_min", "car_dist_km", "bike_time_min", "bike_dist_km",
                                                            "cycletrack_share", "walk_time_min", "walk_dist_km")}
    transit = {m: {k: np.nan_to_num(getattr(s, k)).tolist() for k in ("ivt_min", "wait_min", "access_min", "egress_min", "transfers")}
               | {"available": s.available.tolist()} for m, s in skims.transit.items()}
    avail = params.availability

    class Commuter(mesa.Agent):
        def __init__(self, m, i, pop):
            super().__init__(m)
            self.home, self.work = int(pop.home[i]), int(pop.work[i])
            self.car_available, self.has_bike, self.ebike = bool(pop.car_available[i]), bool(pop.has_bike[i]), bool(pop.ebike[i])
            self.powertrain, self.vot = int(pop.powertrain[i]), float(pop.vot_dkk_per_min[i])
            self.taste, self.mode = pop.taste[i].tolist(), int(pop.mode[i])

        def step(self):
            h, w = self.home, self.work
            beta_t = coef.time_min
            beta_cost = beta_t / self.vot
            V = [0.0] * 5
            av = [False] * 5
            V[0] = beta_t * generalised[route_class[max(self.powertrain, 0)]][h][w] + beta_cost * parking[w]
            av[0] = self.car_available
            bike_km = L["bike_dist_km"][h][w]
            bike_min = L["bike_time_min"][h][w] * (ratio if self.ebike else 1.0)
            decay = coef.bike_distance_decay_per_km * (coef.ebike_decay_factor if self.ebike else 1.0)
            effort = 1.0 + decay * max(bike_km - 5.0, 0.0)
            V[1] = beta_t * coef.bike_time_weight * bike_min * effort + coef.cycletrack * L["cycletrack_share"][h][w]
            av[1] = self.has_bike and bike_km <= (avail.ebike_max_km if self.ebike else avail.bike_max_km)
            V[2] = beta_t * coef.walk_time_weight * L["walk_time_min"][h][w]
            av[2] = L["walk_dist_km"][h][w] <= avail.walk_max_km
            for k, mode in ((3, "s_train"), (4, "light_rail")):
                t = transit[mode]
                if t["available"][h][w]:
                    g = (t["ivt_min"][h][w] + coef.wait_weight * t["wait_min"][h][w]
                         + coef.access_weight * (t["access_min"][h][w] + t["egress_min"][h][w])
                         + coef.transfer_penalty_min * t["transfers"][h][w])
                    V[k] = beta_t * g + beta_cost * fare[h][w]
                    av[k] = True
            if not any(av):
                av[0] = True
            for k in range(5):
                V[k] += constants[k] + self.taste[k]
            if self.mode >= 0:
                V[self.mode] += coef.habit
            top = max(V[k] for k in range(5) if av[k])
            e = [math.exp(V[k] - top) if av[k] else 0.0 for k in range(5)]
            total = sum(e)
            self.p = [x / total for x in e]
            u = self.model.random.random()
            acc = 0.0
            self.mode = 4
            for k in range(5):
                acc += self.p[k]
                if u < acc:
                    self.mode = k
                    break

    plain = mesa.Model(rng=SEED)
    pop = model.population
    for i in range(len(pop)):
        Commuter(plain, i, pop)
    return plain, ratio


def case_choice(n_agents: int = 100_000) -> list[dict]:
    context = ModelContext.load()
    model = scaled_model(context, n_agents, 2020, create_agents=False)
    model.step()  # skims, modes and habit in place
    pop, skims = model.population, model.skims
    ratio = model.skim_settings.bike_kph / model.skim_settings.ebike_kph
    rng = np.random.default_rng(SEED)

    def vectorised():
        V, available = utilities(pop, skims, context.zones, model.params.choice, ratio, habit=True)
        P = probabilities(V, available)
        return V, available, P, draw_categorical(P, rng)

    vectorised()
    reps = 5
    start = time.perf_counter()
    for _ in range(reps):
        V, available, P, _ = vectorised()
    t_vec = (time.perf_counter() - start) / reps

    # Pure numpy lower bound: no model around it; level of service already laid out per agent
    # and mode (time, cost), agent-specific cost coefficient, constants and tastes, availability.
    n = len(V)
    time_x = rng.random((n, V.shape[1])) * 60.0
    cost_x = rng.random((n, V.shape[1])) * 50.0
    beta_cost = model.params.choice.coefficients.time_min / pop.vot_dkk_per_min
    asc = np.array([model.params.choice.constants[m] for m in MODES])

    def lower_bound():
        U = model.params.choice.coefficients.time_min * time_x + beta_cost[:, None] * cost_x + asc + pop.taste
        U = np.where(available, U, -np.inf)
        e = np.exp(U - U.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        c = np.cumsum(p, axis=1)
        return (rng.random(n)[:, None] > c).sum(axis=1)

    lower_bound()
    start = time.perf_counter()
    for _ in range(reps):
        lower_bound()
    t_low = (time.perf_counter() - start) / reps

    plain, _ = plain_mesa_choice(model)
    start = time.perf_counter()
    plain.agents.shuffle_do("step")
    t_mesa = time.perf_counter() - start
    p_plain = np.array([a.p for a in sorted(plain.agents, key=lambda a: a.unique_id)])
    diff = float(np.abs(p_plain - P).max())
    size = f"{n_agents:,} agents"
    return [
        row("4a yearly choice, vectorised (utilities+P+draw)", size, t_vec, None, "mean of 5"),
        row(
            "4b same choice, Mesa agents' step() via shuffle_do",
            size,
            t_mesa,
            t_mesa / t_vec,
            f"vectorised is {t_mesa / t_vec:.0f}x faster (target >= 50x); max |dP| {diff:.1e}",
        ),
        row(
            "4c pure numpy lower bound (U, P, draw)",
            size,
            t_low,
            t_vec / t_low,
            f"vectorised / lower bound = {t_vec / t_low:.1f}x (target <= 3x)",
        ),
        *case_biogeme(V, available, P, t_vec),
    ]


def case_biogeme(V: np.ndarray, available: np.ndarray, P: np.ndarray, t_vec: float) -> list[dict]:
    import logging

    import biogeme.biogeme as bio
    import biogeme.database as db
    import pandas as pd
    from biogeme.expressions import Variable
    from biogeme.models import logit
    from biogeme.parameters import Parameters

    logging.getLogger("biogeme").setLevel(logging.WARNING)
    here = os.getcwd()
    tmp = tempfile.mkdtemp(prefix="vmob-biogeme-")
    os.chdir(tmp)  # Biogeme may write files next to the working directory
    try:
        start = time.perf_counter()
        frame = pd.DataFrame({**{f"V_{m}": V[:, j] for j, m in enumerate(MODES)},
                              **{f"av_{m}": available[:, j].astype(float) for j, m in enumerate(MODES)}})
        database = db.Database("bench", frame)
        util = {j: Variable(f"V_{m}") for j, m in enumerate(MODES)}
        av = {j: Variable(f"av_{m}") for j, m in enumerate(MODES)}
        formulas = {f"P_{m}": logit(util, av, j) for j, m in enumerate(MODES)}
        simulated = bio.BIOGEME(database, formulas, parameters=Parameters()).simulate(the_beta_values={})
        t_bio = time.perf_counter() - start
    finally:
        os.chdir(here)
        shutil.rmtree(tmp, ignore_errors=True)
    expected = simulated[[f"P_{m}" for m in MODES]].to_numpy()
    t0 = time.perf_counter()
    mine = probabilities(V, available)
    t_np = time.perf_counter() - t0
    diff = float(np.abs(mine - expected).max())
    return [row("5 Biogeme simulate(): logit P for the same V", f"{len(V):,} choosers", t_bio, t_bio / t_np,
                f"Biogeme / numpy probabilities ({t_np * 1e3:.1f} ms) = {t_bio / t_np:.0f}x; max |dP| {diff:.1e}")]


def case_sweep(workers: int) -> list[dict]:
    from sweep_scaling import timed_sweep

    wall, outputs = timed_sweep(workers)
    return [row(f"6 sweep of 16 runs, {workers} local worker(s)", "16 runs", wall, None,
                f"combined outputs (serial) {outputs:.1f} s; runs {wall - outputs:.1f} s")]


def case_growth_agents(n_agents: int) -> list[dict]:
    context = ModelContext.load()
    model = scaled_model(context, n_agents, 2020, create_agents=False)
    model.step()
    start = time.perf_counter()
    model.step()
    wall = time.perf_counter() - start
    return [row("growth: one year (2020), embedded network", f"{n_agents:,} agents", wall)]


def case_growth_network(nodes: int) -> list[dict]:
    context = ModelContext.load() if nodes == 0 else ModelContext.load(network=lattice(nodes))
    model = MobilityModel(context, end_year=2020, rng=SEED)
    model.step()
    start = time.perf_counter()
    model.step()
    wall = time.perf_counter() - start
    return [row("growth: one year (2020), full population", f"{context.edges.n_nodes:,} nodes, {len(context.edges.u):,} edges", wall)]


def case_loading(nodes: int = 50_000, zone_counts: tuple[int, ...] = (300, 600)) -> list[dict]:
    """Car trees, then one all-or-nothing loading, for a regional zone system on the lattice.

    Zones are attached to distinct random drive-and-walk nodes (seeded) with a random OD matrix.
    Times are CPU seconds; ``peak MB`` is the traced peak (``tracemalloc``, which numpy reports
    to) of each step alone, the trees' own arrays included in the loading's.
    """
    import tracemalloc

    from model.assignment import all_or_nothing
    from model.edges import edge_arrays
    from model.network import load_network
    from model.skims import car_trees

    edges = edge_arrays(load_network(lattice(nodes)).graph)
    candidates = np.unique(edges.u[edges.drive & edges.walk])
    rng = np.random.default_rng(SEED)
    size = f"{edges.n_nodes:,} nodes, {len(edges.u):,} edges"
    rows = []
    for zones in zone_counts:
        zone_nodes = rng.choice(candidates, zones, replace=False)
        od = rng.uniform(0.0, 10.0, (zones, zones))
        np.fill_diagonal(od, 0.0)
        tracemalloc.start()
        start = time.process_time()
        trees = car_trees(edges, edges.free_flow_time_s, zone_nodes)
        built = time.process_time() - start
        trees_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.reset_peak()
        start = time.process_time()
        all_or_nothing([trees], od[..., None], len(edges.u))
        loaded = time.process_time() - start
        loading_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        del trees
        rows.append(row(f"7a car trees, {zones} zones", size, built, None, "CPU s; traced peak MB", peak=trees_peak))
        rows.append(row(f"7b loading on the trees, {zones} zones", size, loaded, None,
                        "CPU s; traced peak MB (trees included)", peak=loading_peak))
    return rows


def case_extract(nodes: int = 100_000) -> list[dict]:
    """A synthetic ``.osm.pbf`` of about ``nodes`` nodes read to a normalised network (CPU s).

    The buffer (50 km) keeps the whole lattice, so every node is read, built, simplified,
    normalised and flattened by ``edge_arrays``.
    """
    from synthetic_network import write_osm

    from model.edges import edge_arrays
    from model.network import load_network

    path = CACHE / f"lattice_{nodes}.osm.pbf"
    if not path.exists():
        write_osm(path, nodes)
    start = time.process_time()
    network = load_network(path, buffer_km=50.0)
    edges = edge_arrays(network.graph)
    cpu = time.process_time() - start
    size = f"{edges.n_nodes:,} nodes, {len(edges.u):,} edges ({path.stat().st_size / 2**20:.1f} MB PBF)"
    return [row("8 synthetic PBF read to a normalised network", size, cpu, cpu / 60.0, "CPU s; target 60 s")]


def case_region(persons: int = 1_000_000, nodes: int = 50_000, n_zones: int = 600, synthesised: int = 50_000) -> list[dict]:
    """The regional case (issue 20, item 2): ``n_zones`` zones on the lattice, ``persons`` agents, two years.

    ``benchmarks/synthetic_region.py`` writes the zones and builds the model. Times are CPU
    seconds of this process (``time.process_time``; wall seconds in the comparator); ``peak MB``
    is its peak resident set size. The first year includes the habit burn-in and the first
    skims; the second is a normal year (life events, choice, assignment, emissions, tables).
    Reading the network and zones is not timed (cases 2 and 8 time reading networks): the
    first run reads the OSM XML and pickles the inputs, later runs load the pickle.
    """
    from synthetic_region import region_context, region_model, write_zones

    network = lattice(nodes)
    zones_path = CACHE / f"region_zones_{n_zones}.toml"
    if not zones_path.exists():
        write_zones(zones_path, n_zones)
    cpu = time.process_time()
    context = region_context(network, zones_path)
    read = time.process_time() - cpu
    cpu, wall = time.process_time(), time.perf_counter()
    model = region_model(context, persons, synthesised=synthesised, end_year=2020)
    setup = (time.process_time() - cpu, time.perf_counter() - wall)
    print(f"region set-up: {setup[0]:.1f} CPU s, {setup[1]:.0f} wall s, peak {peak_mb():.0f} MB", file=sys.stderr, flush=True)
    e = model.context.edges
    size = f"{persons:,} persons, {len(model.context.zones.ids)} zones, {e.n_nodes:,} nodes, {len(e.u):,} edges"
    years = []
    for _ in range(2):
        cpu, wall = time.process_time(), time.perf_counter()
        model.step()
        years.append((time.process_time() - cpu, time.perf_counter() - wall, len(model.gap_history[model.year - 1]) + 1))
        print(f"region year {model.year - 1}: {years[-1][0]:.1f} CPU s, {years[-1][1]:.0f} wall s, {years[-1][2]} MSA iterations, "
              f"peak {peak_mb():.0f} MB", file=sys.stderr, flush=True)
    cpu, wall = time.process_time(), time.perf_counter()
    model.results()
    tables = (time.process_time() - cpu, time.perf_counter() - wall)
    (first, first_wall, first_it), (normal, normal_wall, normal_it) = years
    label = "9" if persons >= 1_000_000 else "9s"
    return [
        row(f"{label}a region: set-up (synthesis, skims)", size, setup[0], None,
            f"CPU s; wall {setup[1]:.0f} s; inputs read in {read:.0f} CPU s (not counted)"),
        row(f"{label}b region: first year 2019 (burn-in)", size, first, first / 120.0,
            f"CPU s; wall {first_wall:.0f} s; {first_it} MSA iterations; target 120 s"),
        row(f"{label}c region: normal year 2020", size, normal, normal / 120.0,
            f"CPU s; wall {normal_wall:.0f} s; {normal_it} MSA iterations; first/normal {first / normal:.2f} (target < 2)"),
        row(f"{label}d region: results() of the two years", size, tables[0], None, f"CPU s; wall {tables[1]:.0f} s"),
    ]


CASES = {
    "municipal": case_municipal,
    "network": case_network,
    "regional": case_regional,
    "choice": case_choice,
    "sweep1": lambda: case_sweep(1),
    "sweep2": lambda: case_sweep(2),
    "agents10k": lambda: case_growth_agents(10_000),
    "agents100k": lambda: case_growth_agents(100_000),
    "agents1m": lambda: case_growth_agents(1_000_000),
    "net_embedded": lambda: case_growth_network(0),
    "net12k": lambda: case_growth_network(12_500),
    "net50k": lambda: case_growth_network(50_000),
    "loading": case_loading,
    "extract": case_extract,
    "region_small": lambda: case_region(persons=100_000, nodes=12_500, n_zones=150, synthesised=20_000),
    "region": case_region,
}
