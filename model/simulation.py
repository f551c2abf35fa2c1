"""The Mesa model: one step is one year of commuting, congestion, fleet change and CO2.

A step applies the levers due that year, ages and replaces cars, lets some
agents change jobs, then runs the method of successive averages with the mode
choice in the loop until the relative gap is small, draws the reconsidering
agents' modes, and turns the result into the year's output tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import pandas as pd

from model import emissions, local_traffic
from model.agents import Commuter
from model.assignment import all_or_nothing, bpr_time_s, link_costs_s, relative_gap
from model.choice import ChoiceStructure, choice_structure, logsum, probabilities, utilities, vehicle_columns
from model.destinations import destinations_path_for, load_destination_sizes
from model.edges import EdgeArrays, edge_arrays
from model.fleet import ChargingAccess, fleet_table, replace_cars, resident_access
from model.inventory import factors_table, inventory_table
from model.municipal_account import municipal_account_table
from model.network import Network, apply_network_parameters, load_network
from model.outputs import summary_table
from model.parameters import ChoiceParameters, ModelParameters, load_parameters
from model.persons import synthesize_persons
from model.population import Population, calibrate_gravity, draw_categorical, synthesize, weights_in
from model.random_streams import RandomStreams
from model.settings import BASE_YEAR, REFERENCE_MONTH_DAY
from model.skims import (
    Skims,
    SkimSettings,
    ZoneGraph,
    car_route_classes,
    car_route_trees,
    free_flow_car_km,
    skim_settings,
    with_car,
)
from model.supply_state import SupplyState
from model.through_traffic import ThroughTraffic, TrafficCount, load_counts, through_traffic
from model.transit import Transit, load_transit
from model.trips import TripModel, TripState
from model.vocabulary import Mode, mode_table
from model.yearly_tables import YearState, rail_inside_share, visitor_od, year_tables
from model.zones import Zones, check_home_zones_near, load_zones

if TYPE_CHECKING:
    import geopandas as gpd

    from model.levers import Lever

#: Iterations of the habit process used to put the base year in its steady state.
HABIT_BURN_IN = 30


@dataclass
class ModelContext:
    """Inputs read from files once and shared, read-only, by every run."""

    network: Network
    edges: EdgeArrays
    zones: Zones
    transit: Transit
    anchors: ZoneGraph
    counts: list[TrafficCount]
    factors: emissions.EmissionFactors
    sources: dict[str, str] = field(default_factory=dict)
    destination_sizes: np.ndarray | None = None

    @classmethod
    def load(
        cls,
        network: str | Path = "default",
        zones: str | Path | None = None,
        transit: str | Path | None = None,
        counts: str | Path | None = None,
        boundary: str | Path | None = None,
    ) -> ModelContext:
        """Read the network, zones, destinations, transit lines, traffic counts and emission factors."""
        net = load_network(network, boundary=boundary)
        edges = edge_arrays(net.graph)
        zone_set = load_zones(zones)
        destinations, spread = destinations_path_for(zones)
        check_home_zones_near(zone_set, edges)
        lines = load_transit(transit)
        return cls(
            network=net,
            edges=edges,
            zones=zone_set,
            transit=lines,
            anchors=ZoneGraph(edges, zone_set, lines),
            counts=load_counts(counts),
            factors=emissions.load_emission_factors(),
            destination_sizes=load_destination_sizes(zone_set, destinations, spread),
            sources={"network": net.source, "network_sha256": net.digest, "transit": lines.source},
        )

    def links_frame(self) -> gpd.GeoDataFrame:
        """One row per edge (``edge`` = position in :class:`EdgeArrays`) with its geometry in EPSG:25832."""
        import geopandas as gpd
        import osmnx as ox

        gdf = ox.convert.graph_to_gdfs(self.network.graph, nodes=False, fill_edge_geometry=True)
        geometry = gdf.geometry.reindex(pd.MultiIndex.from_tuples(self.edges.keys, names=gdf.index.names))
        e = self.edges
        return gpd.GeoDataFrame(
            {
                "edge": np.arange(len(e.u)), "name": e.name.astype(str), "highway": e.highway.astype(str),
                "road_category": e.road_category.astype(str), "lanes_total": e.lanes_total,
                "maxspeed_kph": e.maxspeed_kph, "drive": e.drive, "bike": e.bike, "cycleway": e.cycleway,
                "inside_share": e.inside_share,
            },
            geometry=geometry.to_numpy(),
            crs=self.network.graph.graph["crs"],
        )


def reference_date(year: int) -> dt.date:
    """The date that stands for ``year``."""
    return dt.date(year, *REFERENCE_MONTH_DAY)


@dataclass(frozen=True)
class HabitTransition:
    """Each agent's mode choice given last year's mode, in O(modes) numbers per agent.

    ``P(m | last = l) = base[m] · scale[l] + [m = l] · keep[l]``: a rank-one part (the choice
    without a bonus, rescaled by how much the bonus on ``l`` takes) plus the extra probability of
    choosing ``l`` again. Arrays are N × modes; zeros where a mode is unavailable.
    """

    base: np.ndarray
    scale: np.ndarray
    keep: np.ndarray

    def step(self, p: np.ndarray) -> np.ndarray:
        """``p′[m] = Σ_l p[l] · P(m | last = l)`` in O(N × modes)."""
        return self.base * (p * self.scale).sum(axis=1, keepdims=True) + p * self.keep

    def iterate(self, p: np.ndarray, iterations: int) -> np.ndarray:
        """:meth:`step` applied ``iterations`` times (same arithmetic, in place on a modes × N copy)."""
        base, scale, keep = (np.ascontiguousarray(a.T) for a in (self.base, self.scale, self.keep))
        q = np.ascontiguousarray(p.T, dtype=float)
        work = np.empty_like(q)
        carried = np.empty(q.shape[1])
        for _ in range(iterations):
            np.multiply(q, scale, out=work)
            work.sum(axis=0, out=carried)
            np.multiply(q, keep, out=q)
            np.multiply(base, carried, out=work)
            q += work
        return np.ascontiguousarray(q.T)


def habit_transition(V: np.ndarray, available: np.ndarray, habit: float) -> HabitTransition:
    """The logit choice with a utility bonus ``habit`` on last year's mode, as a :class:`HabitTransition`.

    With ``e[m] = exp(V[m] − max V)`` over the available modes, ``S = Σ e`` and
    ``D[l] = S + (exp(habit) − 1) · e[l]`` (the denominator when ``l`` carries the bonus),
    ``P(m | l) = e[m] / D[l] + [m = l] · (exp(habit) − 1) · e[l] / D[l]``. Rows without an
    available mode give zeros, as :func:`model.choice.probabilities` does.
    """
    masked = np.where(available, V, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(available, np.exp(masked - top), 0.0)
    bonus = np.expm1(habit)
    denominator = e.sum(axis=1, keepdims=True) + bonus * e
    scale = np.divide(1.0, denominator, out=np.zeros_like(e), where=denominator > 0)
    return HabitTransition(base=e, scale=scale, keep=bonus * e * scale)


def habit_steady_state(
    V: np.ndarray, available: np.ndarray, habit: float, iterations: int = HABIT_BURN_IN, structure: ChoiceStructure | None = None,
) -> np.ndarray:
    """Each agent's long-run mode distribution when every year's choice favours last year's mode.

    Iterates ``p ← Σ_l p(l) · P(· | last = l)`` from the habit-free
    probabilities; this is the state the reconsideration process keeps when
    nothing changes, so a business-as-usual run stays flat. ``structure`` gives the
    nests (nested-logit probabilities; the habit of a path nest's path goes to every
    path of it); plain logit with the habit on last year's column when omitted.

    Each iteration is O(N × modes) (:class:`HabitTransition`), not N × modes²: the habit
    bonus goes to a whole habit group (a column, or every path of a path nest), which
    shifts only that group's logsum, so the iteration runs on the groups' shares and the
    choice within each group stays as it is (:func:`_habit_groups`).
    """
    p = probabilities(V, available, structure)
    if structure is None:
        return habit_transition(V, available, habit).iterate(p, iterations)
    groups = _habit_groups(V, available, structure)
    if groups is None:
        return _dense_habit_steady_state(V, available, habit, iterations, structure)
    group_logsums, group_available, column_group, within = groups
    shares = np.zeros(group_logsums.shape)
    for group in range(group_logsums.shape[1]):
        shares[:, group] = p[:, column_group == group].sum(axis=1)
    shares = habit_transition(group_logsums, group_available, habit).iterate(shares, iterations)
    return within * shares[:, column_group]


def _habit_groups(
    V: np.ndarray, available: np.ndarray, structure: ChoiceStructure,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The choice seen as a plain logit over habit groups, or None where it is not one.

    A habit group (``structure.shares_with``) is a column, or every path of a path nest.
    When every nest with μ < 1 is a single group, the nested logit is a plain logit over
    the groups' logsums ``μ · ln Σ exp(V / μ)`` times the logit of ``V / μ`` within each
    group. Returns the N × G logsums, their availability, each column's group and the
    N × J within-group probabilities.
    """
    column_group = np.unique(structure.shares_with, return_inverse=True)[1]
    for nest in np.unique(structure.nest):
        members = structure.nest == nest
        if structure.scale[nest] < 1.0 and len(np.unique(column_group[members])) > 1:
            return None
    n_groups = int(column_group.max()) + 1
    logsums = np.zeros((len(V), n_groups))
    group_available = np.zeros((len(V), n_groups), dtype=bool)
    within = np.zeros(V.shape)
    for group in range(n_groups):
        members = np.flatnonzero(column_group == group)
        mu = structure.scale[structure.nest[members[0]]]
        group_logsum = logsum(V[:, members], available[:, members], mu)
        has = np.isfinite(group_logsum)
        logsums[has, group] = group_logsum[has]
        group_available[:, group] = has
        within[:, members] = probabilities(V[:, members] / mu, available[:, members])
    return logsums, group_available, column_group, within


def _dense_habit_steady_state(
    V: np.ndarray, available: np.ndarray, habit: float, iterations: int, structure: ChoiceStructure,
) -> np.ndarray:
    """The burn-in with every ``P(· | last = l)`` stacked N × modes × modes (nests :func:`_habit_groups` cannot fold)."""
    conditional = np.stack(
        [probabilities(V + structure.habit_bonus(last, habit), available, structure) for last in range(V.shape[1])], axis=1,
    )
    p = probabilities(V, available, structure)
    for _ in range(iterations):
        p = np.einsum("nl,nlm->nm", p, conditional)
    return p


class MobilityModel(mesa.Model):
    """Commuting in and around Vallensbæk, one step per year.

    Parameters
    ----------
    context
        Inputs shared by runs (:meth:`ModelContext.load`).
    parameters
        Behavioural and technical parameters; defaults to the files.
    levers
        Policy levers; each is applied once, in the first year it is due.
    start_year, end_year
        Simulated years, inclusive.
    sample_fraction
        Share of real commuters represented by agents.
    rng
        Seed of the run: Mesa's ``rng`` and the per-purpose random streams
        (:class:`model.random_streams.RandomStreams`) every draw comes from.
    labels
        ``experiment``, ``scenario`` and ``seed`` written into every table row.
    create_agents
        Create one :class:`Commuter` per population row (Mesa's ``model.agents``). The yearly
        step never touches them, so results are the same without; leaving them out saves
        about 2.5 µs and 0.5 kB per agent (docs/performance.md), which matters at regional
        scale (a million agents) and for sweeps that only need the tables.
    """

    def __init__(
        self,
        context: ModelContext,
        parameters: ModelParameters | None = None,
        levers: list[Lever] | tuple = (),
        *,
        start_year: int = BASE_YEAR,
        end_year: int = 2050,
        sample_fraction: float = 1.0,
        rng: int | None = None,
        labels: dict[str, Any] | None = None,
        create_agents: bool = True,
    ) -> None:
        super().__init__(rng=rng)
        # Every draw comes from a stream per purpose and year, so that a scenario and its
        # baseline with the same seed share their random numbers (model/random_streams.py).
        self.streams = RandomStreams(rng)
        self.params = parameters or load_parameters()
        if self.params.emissions != context.factors:  # an experiment overrode emissions.*
            context = dataclasses.replace(context, factors=self.params.emissions)
        self.context = context
        self.modes: tuple[Mode, ...] = mode_table(self.params.choice.modes)
        self.car_columns = vehicle_columns(self.modes)
        self.levers = sorted(levers, key=lambda lever: lever.start)
        self.applied: set[int] = set()
        self.start_year, self.end_year = start_year, end_year
        self.year = start_year
        self.labels = {"experiment": "", "scenario": "", "seed": 0 if rng is None else int(rng), **(labels or {})}
        self.supply = SupplyState.initial(
            context.edges, context.transit, self.params.fleet.chargers.baseline_local, self.params.choice.costs.parking_dkk_per_trip,
        )
        apply_network_parameters(self.supply.edges, context.network.parameters, self.params.network)
        self.supply.speed_limit_compliance = self.params.network.limit_change.compliance
        self.skim_settings: SkimSettings = skim_settings(
            self.params.choice, self.params.network.speeds_kph, car_route_classes(self.params)
        )
        free_flow = self._skims(reference_date(start_year), None)
        self.gravity = calibrate_gravity(
            context.zones, free_flow_car_km(self.edges, context.anchors.zone_node, self.skim_settings),
            self.params.population, self.params.population.jobs.count_in(start_year),
        )
        self.population: Population = synthesize(
            context.zones, self.gravity, self.params.population, self.params.fleet, sample_fraction,
            self.streams("population"), modes=self.params.choice.modes,
        )
        self.weights = weights_in(self.population, self.params.population, start_year)
        # Everyone else who lives in Vallensbæk, and their trips other than commuting (model/trips.py).
        self.persons, self.households = synthesize_persons(
            self.population, context.zones, self.params.population, sample_fraction, self.streams("persons"),
            modes=self.params.choice.modes,
        )
        sizes = context.destination_sizes if context.destination_sizes is not None else load_destination_sizes(context.zones)
        self.trip_model = TripModel(
            self.persons, self.households, self.population, context.zones, self.params, sizes, self.modes, free_flow,
            self.skim_settings.bike_kph / self.skim_settings.ebike_kph, self.supply.parking_dkk_per_trip,
        )
        self.trip_state: TripState | None = None
        if create_agents:
            for index in range(len(self.population)):
                Commuter(self, index)
        self.through: ThroughTraffic = through_traffic(self.edges, context.counts)
        self.through_net_daily: np.ndarray | None = None  # set in the first year (see yearly_tables.link_vkm)
        self._rail_inside: dict[str, float] | None = None  # from the first year's lines
        self.agent_volume = np.zeros(len(self.edges.u))
        self.skims: Skims = free_flow
        self.gap_history: dict[int, list[float]] = {}
        self.link_records: list[pd.DataFrame] = []
        self.tables: dict[str, list[pd.DataFrame]] = {
            "mode_split": [], "vehicle_km": [], "energy": [], "co2": [], "fleet": [], "ridership": [],
        }
        self.bought_new = np.zeros(len(self.population), dtype=bool)  # this year's new cars (the fleet table)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "year": lambda m: m.year,
                **{f"share_{mode}": partial(MobilityModel.resident_share, mode_index=i) for i, mode in enumerate(self.params.choice.modes)},
                "car_vkm_commute": lambda m: m.last_commute_vkm,
                "relative_gap": lambda m: m.gap_history[m.year][-1] if m.gap_history.get(m.year) else np.nan,
            }
        )
        self.last_commute_vkm = 0.0

    # ------------------------------------------------------------------ helpers

    def _skims(self, date: dt.date, car_time_s: np.ndarray | None) -> Skims:
        return self.supply.skims(self.context.zones, self.context.anchors, date, self.skim_settings, car_time_s, self.modes)

    @property
    def edges(self) -> EdgeArrays:
        """The network arrays of this run (:attr:`SupplyState.edges`)."""
        return self.supply.edges

    @property
    def transit(self) -> Transit:
        """The transit lines and services of this run (:attr:`SupplyState.transit`)."""
        return self.supply.transit

    @property
    def residents(self) -> float:
        """Residents of the municipality in the current year."""
        return self.params.population.residents.population_in(self.year)

    def resident_share(self, mode_index: int) -> float:
        """Residents' commute share of a mode in the current year."""
        res = self.population.resident
        w = self.weights[res]
        return float(w[self.population.mode[res] == mode_index].sum() / w.sum())

    def chargers_in(self, year: int) -> float:
        """Public chargers in the municipality in ``year``."""
        return self.supply.chargers_in(year)

    def residents_charging_access(self, year: int) -> ChargingAccess:
        """Residents' charging access in ``year`` (local public chargers and dwellings)."""
        return resident_access(self.params.fleet, self.chargers_in(year), self.residents, year)

    def background_vph(self) -> np.ndarray:
        """Peak-hour through traffic per edge, plus the local vans, buses and background traffic (in PCE)."""
        local = local_traffic.peak_preload_vph(self.local_flows(self.year), self.params.local_traffic)
        return self.through.daily_per_direction * self.params.assignment.through_peak_hour_factor + local

    def local_flows(self, year: int) -> local_traffic.LocalFlows:
        """Daily vans, buses, municipal fleet and background traffic per edge in ``year`` (model/local_traffic.py)."""
        return local_traffic.local_flows(
            self.edges, self.context.zones, self.context.anchors.zone_node, self.params, year, self.supply.municipal_zero_emission(year),
        )

    # --------------------------------------------------------------------- step

    def step(self) -> None:
        """Simulate one year."""
        year = self.year
        date = reference_date(year)
        for lever in self.levers:
            if id(lever) not in self.applied and lever.start <= date:
                lever.apply(self.supply, date)
                self.applied.add(id(lever))
        self.weights = weights_in(self.population, self.params.population, year)
        first = year == self.start_year
        reconsider = np.ones(len(self.population), dtype=bool) if first else self._life_events(year)
        P = self._equilibrate(year, date, reconsider, first)
        unavailable = (self.population.mode >= 0) & (P[np.arange(len(P)), np.maximum(self.population.mode, 0)] <= 0)
        choosing = reconsider | unavailable | (self.population.mode < 0)
        # One draw per agent, used only by those who choose: who else chooses never shifts it.
        drawn = draw_categorical(P, self.streams("mode_choice", year))
        self.population.mode[choosing] = drawn[choosing]
        self.trip_state = self.trip_model.step(year, self.skims, self.supply.parking_dkk_per_trip, self.weights, self.streams)
        self._record(year)
        self.datacollector.collect(self)
        self.year += 1
        if self.year > self.end_year:
            self.running = False

    def _life_events(self, year: int) -> np.ndarray:
        """Car replacement, job changes and e-bike uptake; returns who reconsiders."""
        pop, streams = self.population, self.streams
        params = self.params
        replaced, self.bought_new = replace_cars(pop, params.fleet, year, self.residents_charging_access(year), streams("fleet", year))
        jobs = streams("jobs", year)
        changing = jobs.random(len(pop)) < params.choice.reconsideration.job_change_rate
        self._change_jobs(changing, jobs)
        growth = params.population.residents.ebike_share_growth_per_year
        share = min(params.population.residents.ebike_share_2019 + growth * (year - BASE_YEAR), 1.0)
        convert_p = growth / max(1.0 - (share - growth), 1e-9)
        pop.ebike |= pop.has_bike & ~pop.ebike & (streams("ebike", year).random(len(pop)) < convert_p)
        base = streams("reconsideration", year).random(len(pop)) < params.choice.reconsideration.base_rate
        return base | replaced | changing

    def _change_jobs(self, changing: np.ndarray, rng: np.random.Generator) -> None:
        """Residents draw a new workplace; departing in-commuters are replaced by new ones."""
        pop, zones = self.population, self.context.zones
        row = {z: i for i, z in enumerate(zones.home)}
        movers = np.flatnonzero(changing & pop.resident)
        if len(movers):
            probs = self.gravity.resident_dest_prob[[row[h] for h in pop.home[movers]]]
            pop.work[movers] = draw_categorical(probs, rng)
        replaced = np.flatnonzero(changing & ~pop.resident)
        if len(replaced):
            probs = self.gravity.incommuter_origin_prob[[row[w] for w in pop.work[replaced]]]
            pop.home[replaced] = draw_categorical(probs, rng)

    def _car_od_vph(self, car_persons: np.ndarray) -> np.ndarray:
        """Peak-hour car OD matrix (vehicles/h) from weighted car commuters per agent."""
        a = self.params.assignment
        n = len(self.context.zones.ids)
        flat = np.bincount(self.population.home * n + self.population.work, weights=car_persons, minlength=n * n)
        od = flat.reshape(n, n) * a.attendance * a.peak_hour_share / a.car_occupancy
        np.fill_diagonal(od, 0.0)
        return od

    def _equilibrate(
        self, year: int, date: dt.date, reconsider: np.ndarray, first: bool, choice: ChoiceParameters | None = None,
    ) -> np.ndarray:
        """MSA with the mode choice in the loop; returns the final choice probabilities.

        ``choice`` replaces the model's choice parameters for this call (calibration tries constants).
        """
        a = self.params.assignment
        choice = choice or self.params.choice
        background = self.background_vph()
        habit = choice.coefficients.habit
        ratio = self.skim_settings.bike_kph / self.skim_settings.ebike_kph
        zone_nodes = self.context.anchors.zone_node
        current_car = np.isin(self.population.mode, self.car_columns).astype(float)
        gaps: list[float] = []
        P = None
        base = self._skims(date, None)
        n_edges = len(self.edges.u)
        routes = self.skim_settings.car_routes
        agent_class = routes.of_agents(self.population.powertrain)
        class_volume = np.zeros((n_edges, len(routes.names)))
        for k in range(1, a.max_iterations + 1):
            time_s = bpr_time_s(self.edges, self.agent_volume + background, a.bpr_alpha, a.bpr_beta)
            trees = car_route_trees(self.edges, time_s, zone_nodes, routes)
            self.skims = with_car(base, trees, self.skim_settings)
            V, available = utilities(
                self.population, self.skims, self.context.zones, choice, ratio, habit=not first,
                parking_dkk_per_trip=self.supply.parking_dkk_per_trip,
            )
            structure = choice_structure(choice)
            P = habit_steady_state(V, available, habit, structure=structure) if first else probabilities(V, available, structure)
            car_share = np.where(reconsider, P[:, self.car_columns].sum(axis=1), current_car)
            od = np.stack([self._car_od_vph(car_share * self.weights * (agent_class == c)) for c in range(len(routes.names))], axis=-1)
            aux, shortest = all_or_nothing(trees, od, n_edges)
            if k > 1:
                gaps.append(relative_gap(link_costs_s(self.edges, time_s, routes.seconds_per_km), class_volume, shortest))
            class_volume = aux if k == 1 else class_volume + (aux - class_volume) / k
            self.agent_volume = class_volume.sum(axis=1)
            if gaps and gaps[-1] < a.relative_gap:
                break
        self.gap_history[year] = gaps
        assert P is not None  # max_iterations >= 1 (assignment.toml schema)
        return P

    # ------------------------------------------------------------------ outputs

    def year_state(self, year: int) -> YearState:
        """The state this year's output tables are built from."""
        if self._rail_inside is None:
            anchors = self.context.anchors
            xy = dict(zip(anchors.stations, zip(anchors.station_x, anchors.station_y, strict=True), strict=True))
            self._rail_inside = rail_inside_share(self.transit, xy, self.context.network.boundary)
        zones = self.context.zones
        jobs = self.params.population.jobs.count_in(year)
        return YearState(
            year=year, population=self.population, weights=self.weights, modes=self.modes, skims=self.skims,
            edges=self.edges, zone_nodes=self.context.anchors.zone_node, n_zones=len(zones.ids),
            peak_volume_vph=self.agent_volume + self.background_vph(), through=self.through,
            visitor_od=visitor_od(zones, self.gravity, self.params.assignment.visitor_trips_per_job * jobs),
            params=self.params, factors=self.context.factors, rail_inside_share=self._rail_inside, labels=self.labels,
            trips=self.trip_state,
            local=self.local_flows(year),
        )

    def _record(self, year: int) -> None:
        """Turn this year's choices and flows into the long output tables (:mod:`model.yearly_tables`)."""
        result = year_tables(self.year_state(year), self.through_net_daily)
        self.through_net_daily = result.through_net_daily
        self.last_commute_vkm = result.commute_vkm
        self.link_records.append(result.link_volumes)
        for name, table in result.tables.items():
            self.tables[name].append(table)
        lever_shares = self.supply.municipal_zero_emission(year)
        municipal: dict[str, float] = {v: lever_shares.get(v, 0.0) for v in self.params.local_traffic.municipal_fleet.vehicles}
        fleet = fleet_table(
            self.population, self.weights, self.bought_new, self.params.fleet, year, self.residents_charging_access(year), municipal,
        )
        self.tables["fleet"].append(fleet.assign(**self.labels, year=year))

    # ------------------------------------------------------------------- public

    def run(self, progress: bool = False) -> None:
        """Step until the end year."""
        years = range(self.year, self.end_year + 1)
        if progress:
            from tqdm import tqdm

            years = tqdm(years, desc="years", unit="year", leave=False)
        for _ in years:
            self.step()

    def results(self) -> dict[str, pd.DataFrame]:
        """The long output tables of all simulated years, plus the summary, the inventory and the factors."""
        tables = {name: pd.concat(frames, ignore_index=True) for name, frames in self.tables.items() if frames}
        tables["summary"] = summary_table(tables["mode_split"], tables["co2"], tables["vehicle_km"])
        tables["inventory"] = inventory_table(tables["energy"], tables["co2"], self.context.factors)
        tables["factors"] = factors_table(tables["summary"], self.context.factors)
        tables["municipal_account"] = municipal_account_table(
            tables["vehicle_km"], tables["fleet"], tables["inventory"], self.context.factors, self.params.municipal_account
        )
        return tables

    def link_volumes(self) -> pd.DataFrame:
        """Per year and edge: commuters' daily cars, through traffic, peak volume, speed, lanes.

        ``edge`` indexes :meth:`ModelContext.links_frame`; for the car-volume maps.
        """
        return pd.concat(self.link_records, ignore_index=True)
