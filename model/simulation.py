"""The Mesa model: one step is one year of commuting, congestion, fleet change and CO2.

A step applies the levers due that year, ages and replaces cars, lets some
agents change jobs, then runs the method of successive averages with the mode
choice in the loop until the relative gap is small, draws the reconsidering
agents' modes, and turns the result into the year's output tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
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
from model.external_demand import (
    CountSections,
    ExternalDemand,
    TrafficCount,
    count_sections,
    elastic_factor,
    estimate,
    gate_measures,
    load_counts,
)
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
    CarTrees,
    Skims,
    SkimSettings,
    ZoneGraph,
    car_route_classes,
    car_route_trees,
    car_trees,
    free_flow_car_km,
    skim_settings,
    with_car,
)
from model.supply_state import SupplyState
from model.transit import Transit, load_transit
from model.trips import TripModel, TripState
from model.vocabulary import EXTERNAL_CLASSES, PERIODS, POWERTRAINS, Mode, mode_table
from model.yearly_tables import YearState, local_car_daily, rail_inside_share, visitor_od, year_tables
from model.zones import Zones, check_home_zones_near, load_zones

if TYPE_CHECKING:
    import geopandas as gpd

    from model.levers import Lever

def congestible_edges(edges: EdgeArrays, boundary: Any, buffer_km: float) -> np.ndarray:
    """Edges whose midpoint lies within ``buffer_km`` of the boundary polygon (EPSG:25832), or inside it."""
    import shapely

    mx = (edges.x[edges.u] + edges.x[edges.v]) / 2.0
    my = (edges.y[edges.u] + edges.y[edges.v]) / 2.0
    return np.asarray(shapely.distance(boundary, shapely.points(mx, my)) <= buffer_km * 1000.0) | (edges.inside_share > 0)


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
        # External (through) demand: estimated in the first year (_fit_external), then routed every
        # year in each period; its demand factor per period follows the travel time (elastic_factor).
        self.sections: CountSections = count_sections(self.edges, context.counts)
        routes = self.skim_settings.car_routes
        #: Route class external cars, vans and trucks are routed in (the fossil cars' class).
        self.external_route = routes.of_powertrain[POWERTRAINS.index("diesel")]
        self.n_routes = len(routes.names)
        pce: dict[str, float] = {str(vehicle): value for vehicle, value in self.params.local_traffic.pce.items()}
        #: PCE of the assignment's layers: the commuters' route classes, then EXTERNAL_CLASSES.
        self.layer_pce: np.ndarray = np.array([1.0] * self.n_routes + [pce[c] for c in EXTERNAL_CLASSES], dtype=float)
        external_seconds = [routes.seconds_per_km[self.external_route]] * len(EXTERNAL_CLASSES)
        self.layer_seconds_per_km = np.array([*routes.seconds_per_km, *external_seconds])
        #: Edges whose time responds to their volume: those within assignment.toml congestion_buffer_km of the
        #: boundary. Farther out the network is schematic (one link stands for several roads), so its capacity
        #: means little and the through traffic it gathers would congest it beyond anything real.
        self.congestible = congestible_edges(self.edges, context.network.boundary, self.params.assignment.congestion_buffer_km)
        self.external: ExternalDemand | None = None
        self.base_time: dict[str, np.ndarray] | None = None  # gate-to-gate times of the base year, per period
        self.demand_factor: dict[str, np.ndarray | float] = dict.fromkeys(PERIODS, 1.0)
        self._factor_now: dict[str, np.ndarray | float] = dict.fromkeys(PERIODS, 1.0)
        # Per period: vehicles per hour on each edge, by layer (commuters' route classes, then EXTERNAL_CLASSES).
        n_edges = len(self.edges.u)
        self.volume: dict[str, np.ndarray] = {p: np.zeros((n_edges, len(self.layer_pce))) for p in PERIODS}
        self.period_time_s: dict[str, np.ndarray] = {}
        self.period_trees: dict[str, CarTrees] = {}
        self.period_gaps: dict[tuple[int, str], float] = {}
        self._incidence: dict[str, np.ndarray] | None = None  # while fitting: per period, the sections × gates × gates incidence
        #: Per count: the base year's count, local and through traffic at its point (set by _fit_external).
        self.count_fit: pd.DataFrame | None = None
        self._commute_od: np.ndarray | None = None  # the morning's commuter cars per hour, zones × zones × route classes
        self._local: tuple[int, local_traffic.LocalFlows] | None = None
        self._rail_inside: dict[str, float] | None = None  # from the first year's lines
        self.skims: Skims = free_flow
        self.gap_history: dict[int, list[float]] = {}
        self.link_records: list[pd.DataFrame] = []
        self.tables: dict[str, list[pd.DataFrame]] = {
            "mode_split": [], "vehicle_km": [], "energy": [], "co2": [], "fleet": [], "ridership": [], "traffic": [],
        }
        self.bought_new = np.zeros(len(self.population), dtype=bool)  # this year's new cars (the fleet table)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "year": lambda m: m.year,
                **{f"share_{mode}": partial(MobilityModel.resident_share, mode_index=i) for i, mode in enumerate(self.params.choice.modes)},
                "car_vkm_commute": lambda m: m.last_commute_vkm,
                "relative_gap": lambda m: m.gap_history[m.year][-1] if m.gap_history.get(m.year) else np.nan,
                **{f"relative_gap_{p}": partial(MobilityModel.period_gap, period=p) for p in PERIODS},
            }
        )
        self.last_commute_vkm = 0.0
        self.clamped_speeds = 0  # speeds the emission curves clamped, summed over the years (one warning per run)

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

    def period_gap(self, period: str) -> float:
        """The relative gap the current year's assignment of ``period`` ended with (NaN before it ran)."""
        return self.period_gaps.get((self.year, period), np.nan)

    @property
    def agent_volume(self) -> np.ndarray:
        """The commuters' cars per edge in the morning peak hour."""
        return self.volume[PERIODS[0]][:, : self.n_routes].sum(axis=1)

    def background_vph(self, period: str = PERIODS[0]) -> np.ndarray:
        """Everything but the commuters per edge and hour of ``period``, in PCE: through traffic, vans, buses."""
        external = self.volume[period][:, self.n_routes:] @ self.layer_pce[self.n_routes:]
        return external + self._preload_vph(period)

    def _preload_vph(self, period: str) -> np.ndarray:
        """The local vans, buses and municipal fleet per edge and hour of ``period``, in PCE."""
        return local_traffic.daily_pce(self.local_flows(self.year), self.params.local_traffic) * self.params.traffic.per_hour(period)

    def local_flows(self, year: int) -> local_traffic.LocalFlows:
        """Daily vans, buses and municipal fleet per edge in ``year`` (model/local_traffic.py)."""
        if self._local is None or self._local[0] != year:
            flows = local_traffic.local_flows(
                self.edges, self.context.zones, self.context.anchors.zone_node, self.params, year,
                self.supply.municipal_zero_emission(year),
            )
            self._local = (year, flows)
        return self._local[1]

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
        self._assign_other_periods(year)
        unavailable = (self.population.mode >= 0) & (P[np.arange(len(P)), np.maximum(self.population.mode, 0)] <= 0)
        choosing = reconsider | unavailable | (self.population.mode < 0)
        # One draw per agent, used only by those who choose: who else chooses never shifts it.
        drawn = draw_categorical(P, self.streams("mode_choice", year))
        self.population.mode[choosing] = drawn[choosing]
        self.trip_state = self.trip_model.step(year, self.skims, self.supply.parking_dkk_per_trip, self.weights, self.streams)
        if self.base_time is None:  # the base year's gate-to-gate times: what later years' demand responds to
            self.base_time = {p: self._gate_time(trees) for p, trees in self.period_trees.items()}
        self.demand_factor = dict(self._factor_now)
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
        """The morning peak's assignment with the mode choice in the loop; returns the final choice probabilities.

        ``choice`` replaces the model's choice parameters for this call (calibration tries constants).
        The commuters of each route class and the external classes are loaded together
        (:meth:`_assignment_step`); the other periods follow in :meth:`_assign_other_periods`.
        """
        if self.external is None:
            self._fit_external(year, date)
        a = self.params.assignment
        choice = choice or self.params.choice
        habit = choice.coefficients.habit
        ratio = self.skim_settings.bike_kph / self.skim_settings.ebike_kph
        zone_nodes = self.context.anchors.zone_node
        current_car = np.isin(self.population.mode, self.car_columns).astype(float)
        gaps: list[float] = []
        P = None
        base = self._skims(date, None)
        routes = self.skim_settings.car_routes
        agent_class = routes.of_agents(self.population.powertrain)
        structure = choice_structure(choice)
        am = PERIODS[0]
        for k in range(1, a.max_iterations + 1):
            time_s = self._congested_time_s(am)
            trees = car_route_trees(self.edges, time_s, zone_nodes, routes)
            self.skims = with_car(base, trees, self.skim_settings)
            V, available = utilities(
                self.population, self.skims, self.context.zones, choice, ratio, habit=not first,
                parking_dkk_per_trip=self.supply.parking_dkk_per_trip,
            )
            P = habit_steady_state(V, available, habit, structure=structure) if first else probabilities(V, available, structure)
            car_share = np.where(reconsider, P[:, self.car_columns].sum(axis=1), current_car)
            od = np.stack([self._car_od_vph(car_share * self.weights * (agent_class == c)) for c in range(self.n_routes)], axis=-1)
            self._commute_od = od
            gap = self._assignment_step(am, k, trees, time_s, od, year)
            if np.isfinite(gap):
                gaps.append(gap)
            if gaps and gaps[-1] < a.relative_gap:
                break
        self.gap_history[year] = gaps
        self.period_gaps[(year, am)] = gaps[-1] if gaps else np.nan
        assert P is not None  # max_iterations >= 1 (assignment.toml schema)
        return P

    def _assign_other_periods(self, year: int) -> None:
        """The afternoon peak (the commuters' return trips) and the off-peak, with the morning's commuter demand fixed."""
        a = self.params.assignment
        assert self._commute_od is not None  # the morning peak ran first
        routes = self.skim_settings.car_routes
        for period in PERIODS[1:]:
            commute = self.params.traffic.periods[period].commute
            od = self._commute_od.transpose(1, 0, 2) if commute == "return" else self._commute_od * (commute == "outbound")
            gap = np.nan
            for k in range(1, a.max_iterations + 1):
                time_s = self._congested_time_s(period)
                trees = car_route_trees(self.edges, time_s, self.context.anchors.zone_node, routes)
                gap = self._assignment_step(period, k, trees, time_s, od, year)
                if gap < a.relative_gap:
                    break
            self.period_gaps[(year, period)] = gap

    def _congested_time_s(self, period: str) -> np.ndarray:
        """Edge times of ``period`` under its current volumes, preload included."""
        a = self.params.assignment
        return bpr_time_s(self.edges, self.volume[period] @ self.layer_pce + self._preload_vph(period), a.bpr_alpha, a.bpr_beta,
                          self.congestible)

    def _assignment_step(
        self, period: str, k: int, trees: list[CarTrees], time_s: np.ndarray, commute_od: np.ndarray, year: int,
    ) -> float:
        """One Frank–Wolfe step of ``period``: load every layer on ``trees``; the relative gap before the step.

        The first step takes the all-or-nothing loads (a cold start every year: the demand has
        changed). The gap ``|Σ c·V − Σ d·c_sp| / Σ c·V`` is taken on generalised cost over all
        layers in passenger-car equivalents (the preload is fixed and excluded); infinite at the
        first step.
        """
        n_edges = len(self.edges.u)
        external_trees = trees[self.external_route]
        external = self._external_od_vph(period, external_trees, year, update=k == 1)
        self.period_trees[period], self.period_time_s[period] = external_trees, time_s
        layer_trees = [*trees[: self.n_routes], *[external_trees] * len(EXTERNAL_CLASSES)]
        aux, shortest = all_or_nothing(layer_trees, np.concatenate([commute_od, external], axis=-1), n_edges, self.layer_pce)
        current = self.volume[period]
        seen = None
        if self._incidence is not None:
            assert self.external is not None
            seen = gate_measures(external_trees, self.external.gates, self.sections.weights)
        if k == 1:
            current[:] = aux
            if seen is not None and self._incidence is not None:
                self._incidence[period] = seen
            return np.inf
        cost = link_costs_s(self.edges, time_s, tuple(self.layer_seconds_per_km)) * self.layer_pce
        gap = relative_gap(cost, current, shortest)
        alpha = self._line_search(period, current, aux - current)
        current += alpha * (aux - current)
        if seen is not None and self._incidence is not None:  # the incidence that goes with the volumes
            self._incidence[period] += alpha * (seen - self._incidence[period])
        return gap

    def _line_search(self, period: str, volume: np.ndarray, direction: np.ndarray, bisections: int = 24) -> float:
        """Frank–Wolfe step size: the share of the way to the all-or-nothing loads that minimises the Beckmann objective.

        Bisection on ``Σ_e t_e(V + α·d) · d_e + Σ_e,l km_e · s_l · d_el = 0`` over ``α ∈ [0, 1]``
        (passenger-car equivalents, the fixed preload included in the times; ``s_l`` the layer's
        seconds per km). With congested through traffic the plain MSA step ``1/k`` needed far
        more iterations than ``max_iterations`` to reach the gap.
        """
        a = self.params.assignment
        fixed = self._preload_vph(period)
        flow, change = volume @ self.layer_pce, direction @ self.layer_pce
        per_km = float(((self.edges.length_m / 1000.0) @ direction) @ (self.layer_seconds_per_km * self.layer_pce))

        def slope(alpha: float) -> float:
            time_s = bpr_time_s(self.edges, fixed + flow + alpha * change, a.bpr_alpha, a.bpr_beta, self.congestible)
            return float(time_s @ change) + per_km

        if slope(1.0) <= 0.0:
            return 1.0
        low, high = 0.0, 1.0
        for _ in range(bisections):
            mid = (low + high) / 2.0
            low, high = (mid, high) if slope(mid) < 0.0 else (low, mid)
        return (low + high) / 2.0

    # -------------------------------------------------------------- external demand

    def _fit_external(self, year: int, date: dt.date) -> None:
        """Estimate the external OD demand from the counts (model/external_demand.py).

        The counts hold the model's own local traffic too, and the routes of the assigned
        equilibrium can differ from the free-flow paths. So the base year is run provisionally: a
        first estimate (free-flow paths, the counts less the vans and buses) is assigned with the
        commuters in every period, the modes and trips are drawn (with the year's random numbers,
        which the real base year draws again), and the demand is estimated again on that
        equilibrium's incidence from the counts less all local traffic. ``traffic.toml``
        ``estimation_rounds`` such rounds are run, or fewer once every count is met within
        ``count_tolerance``; the best estimate is kept and :attr:`count_fit` says how well it meets
        each count.
        """
        t = self.params.traffic
        routes = self.skim_settings.car_routes
        free_flow = car_trees(
            self.edges, self.edges.free_flow_time_s, self.context.anchors.zone_node, routes.seconds_per_km[self.external_route],
        )
        vans_buses = local_traffic.by_count_class(self.local_flows(year))

        def fit(local_daily: np.ndarray, incidence: np.ndarray | None) -> ExternalDemand:
            return estimate(free_flow, self.edges, self.context.zones, self.sections, van_share=t.van_share_of_light,
                            decay_per_km=t.prior_decay_per_km, local_daily=local_daily, incidence=incidence)

        self.external = fit(vans_buses, None)
        everyone = np.ones(len(self.population), dtype=bool)
        modes, trip_state = self.population.mode.copy(), self.trip_state
        best: tuple[float, ExternalDemand, pd.DataFrame] | None = None
        for round_ in range(t.estimation_rounds + 1):
            self._incidence = {}
            P = self._equilibrate(year, date, everyone, first=True)
            self._assign_other_periods(year)
            incidence = np.sum([t.periods[p].external_share * self._incidence[p] for p in PERIODS], axis=0)
            self._incidence = None
            self.population.mode[:] = draw_categorical(P, self.streams("mode_choice", year))
            self.trip_state = self.trip_model.step(year, self.skims, self.supply.parking_dkk_per_trip, self.weights, self.streams)
            local = vans_buses.copy()
            local[:, EXTERNAL_CLASSES.index("car")] += local_car_daily(self.year_state(year))
            self.population.mode[:], self.trip_state = modes, trip_state
            fit_table = self._count_fit(local)
            error = float(fit_table["misfit_share"].abs().max())
            if best is None or error < best[0]:
                best = (error, self.external, fit_table)
            if error <= t.count_tolerance or round_ == t.estimation_rounds:
                break
            self.external = fit(local, incidence)
        assert best is not None
        _, self.external, self.count_fit = best
        for volume in self.volume.values():
            volume[:] = 0.0

    def _count_fit(self, local_daily: np.ndarray) -> pd.DataFrame:
        """Per count: the count, the local traffic the model carries at its point, the through traffic assigned there."""
        counted = self.sections.light + self.sections.truck
        local = self.sections.weights @ local_daily.sum(axis=1)
        through = self.sections.weights @ self._external_daily().sum(axis=(0, 2))
        return pd.DataFrame({
            "road": list(self.sections.roads), "count_aadt": counted, "local_daily": local, "through_daily": through,
            "misfit_share": (local + through - counted) / counted,
        })

    def _gate_time(self, trees: CarTrees) -> np.ndarray:
        """Gate-to-gate travel time (s) on the external classes' paths: the cost external demand responds to."""
        assert self.external is not None
        gates = self.external.gates
        return trees.time_s[np.ix_(gates, gates)]

    def _external_od_vph(self, period: str, trees: CarTrees, year: int, update: bool) -> np.ndarray:
        """External demand of ``period``, vehicles per hour, ``zones × zones × EXTERNAL_CLASSES``.

        Base-year demand × growth (class, road type) × the elastic factor of this period's
        gate-to-gate times against the base year's (:func:`model.external_demand.elastic_factor`).
        The factor is set on the first iteration (``update``), from the times of last year's flows on
        this year's network (a lever's capacity cut or lower limit shows there), and then held for
        the year, so that the line search works on a fixed demand.
        """
        assert self.external is not None
        t = self.params.traffic
        factor: np.ndarray | float = self._factor_now[period]
        if update:
            factor = 1.0
            if self.base_time is not None:
                e = t.elasticity
                factor = elastic_factor(np.asarray(self.demand_factor[period]), self._gate_time(trees), self.base_time[period],
                                        e.short_run, e.long_run)
            self._factor_now[period] = factor
        n = len(self.context.zones.ids)
        layers = []
        for klass in EXTERNAL_CLASSES:
            motorway, other = t.growth.factor(klass, year)
            growth = np.where(self.external.motorway, motorway, other)
            layers.append(self.external.od(n, klass, growth * factor) * t.per_hour(period))
        return np.stack(layers, axis=-1)

    def _evaporated_vkm(self, year: int) -> np.ndarray:
        """External vehicle-km per year not driven because travel times changed since the base year, by class.

        Demand at base-year times (base × growth) less the demand of the periods, each trip at its
        period's path length; negative where times fell (induced traffic).
        """
        out = np.zeros(len(EXTERNAL_CLASSES))
        if self.external is None:
            return out
        t = self.params.traffic
        gates = self.external.gates
        for period in PERIODS:
            trees = self.period_trees.get(period)
            if trees is None:
                continue
            km = np.nan_to_num(trees.dist_km[np.ix_(gates, gates)], nan=0.0, posinf=0.0)
            lost = 1.0 - np.asarray(self._factor_now[period])
            for x, klass in enumerate(EXTERNAL_CLASSES):
                motorway, other = t.growth.factor(klass, year)
                growth = np.where(self.external.motorway, motorway, other)
                out[x] += float((self.external.daily[klass] * growth * lost * km).sum()) * t.periods[period].external_share
        return out * self.params.assignment.days_per_year

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
            peak_volume_vph=self.agent_volume + self.background_vph(),
            external_daily=self._external_daily(),
            period_time_s=np.stack([self.period_time_s.get(p, self._congested_time_s(p)) for p in PERIODS]),
            evaporated_vkm=self._evaporated_vkm(year),
            visitor_od=visitor_od(zones, self.gravity, self.params.assignment.visitor_trips_per_job * jobs),
            params=self.params, factors=self.context.factors, rail_inside_share=self._rail_inside, labels=self.labels,
            trips=self.trip_state,
            local=self.local_flows(year),
        )

    def _external_daily(self) -> np.ndarray:
        """External vehicles per day on each edge, ``periods × edges × EXTERNAL_CLASSES`` (each period's hours × its hour)."""
        return np.stack([self.volume[p][:, self.n_routes:] * self.params.traffic.periods[p].hours for p in PERIODS])

    def _record(self, year: int) -> None:
        """Turn this year's choices and flows into the long output tables (:mod:`model.yearly_tables`)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", emissions.SpeedClampWarning)
            result = year_tables(self.year_state(year))
        for warning in caught:  # summed over the run (see run()); others are passed on
            if issubclass(warning.category, emissions.SpeedClampWarning):
                self.clamped_speeds += int(str(warning.message).split()[0])
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
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
        if self.clamped_speeds:
            warnings.warn(f"{self.clamped_speeds} link speed value(s) over {self.start_year}–{self.end_year} lay outside the COPERT "
                          "curves' valid range and were clamped to it (docs/emissions.md §1)",
                          emissions.SpeedClampWarning, stacklevel=2)

    def results(self) -> dict[str, pd.DataFrame]:
        """The long output tables of all simulated years, plus the summary, the inventory and the factors."""
        tables = {name: pd.concat(frames, ignore_index=True) for name, frames in self.tables.items() if frames}
        traffic = tables.pop("traffic", None)
        tables["summary"] = summary_table(tables["mode_split"], tables["co2"], tables["vehicle_km"], traffic)
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
