"""The Mesa model: one step is one year of commuting, congestion, fleet change and CO2.

A step applies the levers due that year, ages and replaces cars, lets some
agents change jobs, then runs the method of successive averages with the mode
choice in the loop until the relative gap is small, draws the reconsidering
agents' modes, and turns the result into the year's output tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
import pandas as pd
import shapely

from model import emissions
from model.agents import Commuter
from model.assignment import all_or_nothing, bpr_time_s, relative_gap
from model.choice import CAR, probabilities, utilities
from model.edges import EdgeArrays, edge_arrays
from model.fleet import ChargingAccess, fleet_table, national_stock_shares, replace_cars, resident_access, truck_stock_shares
from model.network import Network, load_network
from model.outputs import summary_table
from model.parameters import MODES, POWERTRAINS, ModelParameters, interpolate, load_parameters
from model.population import Population, calibrate_gravity, draw_categorical, synthesize, weights_in
from model.settings import BASE_YEAR, REFERENCE_MONTH_DAY
from model.skims import SkimSettings, Skims, ZoneGraph, build_skims, car_trees, skim_settings, with_car
from model.through_traffic import ThroughTraffic, TrafficCount, load_counts, through_traffic
from model.transit import RAIL_MODES, Transit, load_transit
from model.zones import Zones, load_zones

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

    @classmethod
    def load(
        cls,
        network: str | Path = "default",
        zones: str | Path | None = None,
        transit: str | Path | None = None,
        counts: str | Path | None = None,
        boundary: str | Path | None = None,
    ) -> "ModelContext":
        """Read the network, zones, transit lines, traffic counts and emission factors."""
        net = load_network(network, boundary=boundary)
        edges = edge_arrays(net.graph)
        zone_set = load_zones(zones)
        lines = load_transit(transit)
        return cls(
            network=net,
            edges=edges,
            zones=zone_set,
            transit=lines,
            anchors=ZoneGraph(edges, zone_set, lines),
            counts=load_counts(counts),
            factors=emissions.load_emission_factors(),
            sources={"network": net.source, "network_sha256": net.digest, "transit": lines.source},
        )

    def links_frame(self) -> "gpd.GeoDataFrame":
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


def habit_steady_state(V: np.ndarray, available: np.ndarray, habit: float, iterations: int = HABIT_BURN_IN) -> np.ndarray:
    """Each agent's long-run mode distribution when every year's choice favours last year's mode.

    Iterates ``p ← Σ_l p(l) · P(· | last = l)`` from the habit-free
    probabilities; this is the state the reconsideration process keeps when
    nothing changes, so a business-as-usual run stays flat.
    """
    p = probabilities(V, available)
    conditional = []
    for last in range(V.shape[1]):
        bonus = np.zeros(V.shape[1])
        bonus[last] = habit
        conditional.append(probabilities(V + bonus, available))
    stack = np.stack(conditional, axis=1)  # N × last × next
    for _ in range(iterations):
        p = np.einsum("nl,nlm->nm", p, stack)
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
        Seed of the model's random generator (Mesa's ``rng``).
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
        levers: list["Lever"] | tuple = (),
        *,
        start_year: int = BASE_YEAR,
        end_year: int = 2050,
        sample_fraction: float = 1.0,
        rng: int | None = None,
        labels: dict[str, Any] | None = None,
        create_agents: bool = True,
    ) -> None:
        super().__init__(rng=rng)
        self.context = context
        self.params = parameters or load_parameters()
        self.levers = sorted(levers, key=lambda lever: lever.start)
        self.applied: set[int] = set()
        self.start_year, self.end_year = start_year, end_year
        self.year = start_year
        self.labels = {"experiment": "", "scenario": "", "seed": 0 if rng is None else int(rng), **(labels or {})}
        self.edges = context.edges.copy()
        self.transit = context.transit.copy()
        self.local_chargers: dict[int, float] = dict(self.params.fleet.chargers.baseline_local)
        self.station_improvements: dict[str, tuple[float, float]] = {}
        self.skim_settings: SkimSettings = skim_settings(self.params.choice, context.network.parameters.speeds_kph)
        free_flow = self._skims(reference_date(start_year), None)
        self.gravity = calibrate_gravity(
            context.zones, free_flow.car_dist_km, self.params.population, self.params.population.jobs.count_in(start_year)
        )
        self.population: Population = synthesize(
            context.zones, self.gravity, self.params.population, self.params.fleet, sample_fraction, self.rng
        )
        self.weights = weights_in(self.population, self.params.population, start_year)
        if create_agents:
            for index in range(len(self.population)):
                Commuter(self, index)
        self.through: ThroughTraffic = through_traffic(self.edges, context.counts)
        self.through_net_daily: np.ndarray | None = None  # set in the first year (see _link_vkm)
        self.agent_volume = np.zeros(len(self.edges.u))
        self.skims: Skims = free_flow
        self.gap_history: dict[int, list[float]] = {}
        self.link_records: list[pd.DataFrame] = []
        self.tables: dict[str, list[pd.DataFrame]] = {"mode_split": [], "vehicle_km": [], "energy": [], "co2": [], "fleet": []}
        self.bought_new = np.zeros(len(self.population), dtype=bool)  # this year's new cars (the fleet table)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "year": lambda m: m.year,
                **{f"share_{mode}": (lambda m, i=i: m.resident_share(i)) for i, mode in enumerate(MODES)},
                "car_vkm_commute": lambda m: m.last_commute_vkm,
                "relative_gap": lambda m: m.gap_history[m.year][-1] if m.gap_history.get(m.year) else np.nan,
            }
        )
        self.last_commute_vkm = 0.0

    # ------------------------------------------------------------------ helpers

    def _skims(self, date: dt.date, car_time_s: np.ndarray | None) -> Skims:
        return build_skims(
            self.edges, self.context.zones, self.transit, self.context.anchors, date, self.skim_settings, car_time_s,
            self.station_improvements,
        )

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
        return interpolate(self.local_chargers, year)

    def residents_charging_access(self, year: int) -> ChargingAccess:
        """Residents' charging access in ``year`` (local public chargers and dwellings)."""
        return resident_access(self.params.fleet, self.chargers_in(year), self.residents, year)

    def background_vph(self) -> np.ndarray:
        """Peak-hour through traffic per edge."""
        return self.through.daily_per_direction * self.params.assignment.through_peak_hour_factor

    # --------------------------------------------------------------------- step

    def step(self) -> None:
        """Simulate one year."""
        year = self.year
        date = reference_date(year)
        for lever in self.levers:
            if id(lever) not in self.applied and lever.start <= date:
                lever.apply(self, date)
                self.applied.add(id(lever))
        self.weights = weights_in(self.population, self.params.population, year)
        first = year == self.start_year
        reconsider = np.ones(len(self.population), dtype=bool) if first else self._life_events(year)
        P = self._equilibrate(year, date, reconsider, first)
        unavailable = (self.population.mode >= 0) & (P[np.arange(len(P)), np.maximum(self.population.mode, 0)] <= 0)
        choosing = reconsider | unavailable | (self.population.mode < 0)
        self.population.mode[choosing] = draw_categorical(P[choosing], self.rng)
        self._record(year)
        self.datacollector.collect(self)
        self.year += 1
        if self.year > self.end_year:
            self.running = False

    def _life_events(self, year: int) -> np.ndarray:
        """Car replacement, job changes and e-bike uptake; returns who reconsiders."""
        pop, rng = self.population, self.rng
        params = self.params
        replaced, self.bought_new = replace_cars(pop, params.fleet, year, self.residents_charging_access(year), rng)
        changing = rng.random(len(pop)) < params.choice.reconsideration.job_change_rate
        self._change_jobs(changing)
        growth = params.population.residents.ebike_share_growth_per_year
        share = min(params.population.residents.ebike_share_2019 + growth * (year - BASE_YEAR), 1.0)
        convert_p = growth / max(1.0 - (share - growth), 1e-9)
        pop.ebike |= pop.has_bike & ~pop.ebike & (rng.random(len(pop)) < convert_p)
        base = rng.random(len(pop)) < params.choice.reconsideration.base_rate
        return base | replaced | changing

    def _change_jobs(self, changing: np.ndarray) -> None:
        """Residents draw a new workplace; departing in-commuters are replaced by new ones."""
        pop, zones = self.population, self.context.zones
        row = {z: i for i, z in enumerate(zones.home)}
        movers = np.flatnonzero(changing & pop.resident)
        if len(movers):
            probs = self.gravity.resident_dest_prob[[row[h] for h in pop.home[movers]]]
            pop.work[movers] = draw_categorical(probs, self.rng)
        replaced = np.flatnonzero(changing & ~pop.resident)
        if len(replaced):
            probs = self.gravity.incommuter_origin_prob[[row[w] for w in pop.work[replaced]]]
            pop.home[replaced] = draw_categorical(probs, self.rng)

    def _car_od_vph(self, car_persons: np.ndarray) -> np.ndarray:
        """Peak-hour car OD matrix (vehicles/h) from weighted car commuters per agent."""
        a = self.params.assignment
        n = len(self.context.zones.ids)
        flat = np.bincount(self.population.home * n + self.population.work, weights=car_persons, minlength=n * n)
        od = flat.reshape(n, n) * a.attendance * a.peak_hour_share / a.car_occupancy
        np.fill_diagonal(od, 0.0)
        return od

    def _equilibrate(self, year: int, date: dt.date, reconsider: np.ndarray, first: bool) -> np.ndarray:
        """MSA with the mode choice in the loop; returns the final choice probabilities."""
        a = self.params.assignment
        background = self.background_vph()
        habit = self.params.choice.coefficients.habit
        ratio = self.skim_settings.bike_kph / self.skim_settings.ebike_kph
        zone_nodes = self.context.anchors.zone_node
        current_car = (self.population.mode == CAR).astype(float)
        gaps: list[float] = []
        P = None
        base = self._skims(date, None)
        n_edges = len(self.edges.u)
        for k in range(1, a.max_iterations + 1):
            time_s = bpr_time_s(self.edges, self.agent_volume + background, a.bpr_alpha, a.bpr_beta)
            trees = car_trees(self.edges, time_s, zone_nodes)
            self.skims = with_car(base, trees, self.skim_settings)
            V, available = utilities(self.population, self.skims, self.context.zones, self.params.choice, ratio, habit=not first)
            P = habit_steady_state(V, available, habit) if first else probabilities(V, available)
            car_share = np.where(reconsider, P[:, CAR], current_car)
            od = self._car_od_vph(car_share * self.weights)
            aux, _, shortest = all_or_nothing(trees, od, n_edges)
            if k > 1:
                gaps.append(relative_gap(time_s, self.agent_volume, shortest))
            self.agent_volume = aux if k == 1 and not self.agent_volume.any() else self.agent_volume + (aux - self.agent_volume) / k
            if gaps and gaps[-1] < a.relative_gap:
                break
        self.gap_history[year] = gaps
        return P

    # ------------------------------------------------------------------ outputs

    def _record(self, year: int) -> None:
        """Turn this year's choices and flows into the long output tables."""
        a = self.params.assignment
        pop, skims = self.population, self.skims
        h, w, mode = pop.home, pop.work, pop.mode
        annual_trips = self.weights * a.attendance * 2.0 * a.working_days_per_year
        distance = np.select(
            [mode == i for i in range(len(MODES))],
            [skims.car_dist_km[h, w], skims.bike_dist_km[h, w], skims.walk_dist_km[h, w],
             np.nan_to_num(skims.transit["s_train"].rail_km[h, w]), np.nan_to_num(skims.transit["light_rail"].rail_km[h, w])],
        )
        rows = []
        for group, mask in (("resident", pop.resident), ("non_resident", ~pop.resident)):
            total = self.weights[mask].sum()
            for i, m in enumerate(MODES):
                sel = mask & (mode == i)
                commuters = float(self.weights[sel].sum())
                rows.append({
                    "road_user": group, "mode": m, "commuters": commuters,
                    "trips_per_weekday": commuters * a.attendance * 2.0,
                    "share": commuters / total if total > 0 else 0.0,
                    "pkm_per_year": float((annual_trips[sel] * distance[sel]).sum()),
                })
        mode_split = pd.DataFrame(rows)
        link_vkm, commute_daily = self._link_vkm(year)
        self.last_commute_vkm = float(link_vkm.loc[link_vkm["traffic"] == "commute", "vkm_per_year"].sum())
        peak_volume = self.agent_volume + self.background_vph()
        self.link_records.append(pd.DataFrame({
            **self.labels, "year": year, "edge": np.arange(len(self.edges.u)),
            "car_commute_daily": commute_daily, "through_daily": self.through.daily_per_direction,
            "peak_volume_vph": peak_volume,
            "congested_speed_kph": self.edges.length_m / bpr_time_s(self.edges, peak_volume, a.bpr_alpha, a.bpr_beta) * 3.6,
            "lanes_total": self.edges.lanes_total, "maxspeed_kph": self.edges.maxspeed_kph,
        }))
        link_vkm = pd.concat([link_vkm, emissions.other_local_vkm(link_vkm, self.context.factors)], ignore_index=True)
        energy, vehicle_co2 = emissions.vehicle_energy_and_co2(link_vkm, year, self.context.factors)
        rail = mode_split[mode_split["mode"].isin(RAIL_MODES)]
        rail_pkm = pd.concat(
            [emissions.split_rail_pkm(dict(zip(g["mode"], g["pkm_per_year"], strict=True)), self.rail_inside_share, road_user=user)
             for user, g in rail.groupby("road_user")],
            ignore_index=True,
        )
        co2 = emissions.co2_accounting(vehicle_co2, emissions.rail_co2_table(rail_pkm, year, self.context.factors))
        keys = ["vehicle", "powertrain", "road_category", "speed_limit_kph", "area", "traffic", "road_user"]
        vehicle_km = link_vkm.groupby(keys, as_index=False)["vkm_per_year"].sum()
        fleet = fleet_table(pop, self.weights, self.bought_new, self.params.fleet, year, self.residents_charging_access(year))
        for name, table in (("mode_split", mode_split), ("vehicle_km", vehicle_km), ("energy", energy), ("co2", co2), ("fleet", fleet)):
            self.tables[name].append(table.assign(**self.labels, year=year))

    @property
    def rail_inside_share(self) -> dict[str, float]:
        """Share of each rail mode's track-km inside the boundary (line segments between stops)."""
        if not hasattr(self, "_rail_inside"):
            anchors = self.context.anchors
            xy = dict(zip(anchors.stations, zip(anchors.station_x, anchors.station_y, strict=True), strict=True))
            boundary = self.context.network.boundary
            totals = {m: [0.0, 0.0] for m in RAIL_MODES}
            for line in self.transit.lines.values():
                for a_stop, b_stop in zip(line.stops[:-1], line.stops[1:], strict=True):
                    segment = shapely.LineString([xy[a_stop], xy[b_stop]])
                    totals[line.mode][0] += segment.length
                    totals[line.mode][1] += segment.intersection(boundary).length
            self._rail_inside = {m: (inside / total if total else 0.0) for m, (total, inside) in totals.items()}
        return self._rail_inside

    def _link_vkm(self, year: int) -> tuple[pd.DataFrame, np.ndarray]:
        """Link-level vehicle-km of commuting and through traffic by vehicle group."""
        a = self.params.assignment
        edges, pop = self.edges, self.population
        n = len(self.context.zones.ids)
        time_s = bpr_time_s(edges, self.agent_volume + self.background_vph(), a.bpr_alpha, a.bpr_beta)
        is_car = pop.mode == CAR
        daily_vehicles = self.weights * a.attendance * 2.0 / a.car_occupancy * is_car
        od_index = pop.home * n + pop.work
        groups, loads = [], []
        for user, user_mask in (("resident", pop.resident), ("non_resident", ~pop.resident)):
            for p_index, powertrain in enumerate(POWERTRAINS):
                sel = user_mask & (pop.powertrain == p_index)
                od = np.bincount(od_index[sel], weights=daily_vehicles[sel], minlength=n * n).reshape(n, n)
                np.fill_diagonal(od, 0.0)
                groups.append(("car", powertrain, "commute", user))
                loads.append(od)
        n_commute = len(groups)
        stock = national_stock_shares(self.params.fleet, year)
        visitors = self._visitor_od(year)
        for powertrain in POWERTRAINS:
            groups.append(("car", powertrain, "other_local", "non_resident"))
            loads.append(visitors * stock[powertrain])
        total_od = np.sum(loads, axis=0)
        _, incidence, _ = all_or_nothing(car_trees(edges, time_s, self.context.anchors.zone_node), total_od, len(edges.u))
        daily = np.column_stack([incidence @ od.ravel() for od in loads])  # edges × groups, vehicles/day
        commute_daily = daily[:, :n_commute].sum(axis=1)
        visitor_daily = daily[:, n_commute:].sum(axis=1)
        annual = np.column_stack([daily[:, :n_commute] * a.working_days_per_year, daily[:, n_commute:] * a.visitor_days_per_year])
        resident_daily = daily[:, [g for g, group in enumerate(groups[:n_commute]) if group[3] == "resident"]].sum(axis=1)
        other_local_factor = self.context.factors.other_local.factor
        local_per_day = (
            (commute_daily + other_local_factor * resident_daily) * a.working_days_per_year
            + visitor_daily * a.visitor_days_per_year
        ) / a.days_per_year
        if self.through_net_daily is None:
            # The counts are base-year totals: through traffic is the count net of the first year's
            # local traffic, then held fixed, so that fewer local cars (a lever) mean fewer cars in all.
            self.through_net_daily = np.maximum(self.through.daily_per_direction - local_per_day, 0.0)
        through_daily = self.through_net_daily
        truck = self.through.truck_share
        for powertrain in POWERTRAINS:
            groups.append(("car", powertrain, "through", "non_resident"))
            annual = np.column_stack([annual, through_daily * (1.0 - truck) * stock[powertrain] * a.days_per_year])
        for powertrain, share in truck_stock_shares(self.params.fleet, year).items():
            groups.append(("truck", powertrain, "through", "non_resident"))
            annual = np.column_stack([annual, through_daily * truck * share * a.days_per_year])
        vkm = annual * (edges.length_m / 1000.0)[:, None]
        congested_kph = edges.length_m / time_s * 3.6
        # One piece per group × area × speed regime; the pieces' columns are concatenated once
        # (one DataFrame per piece cost more than the rest of the year's step).
        labels: list[tuple[str, str, str, str, str]] = []
        piece, edge_at, speed_at, value_at = [], [], [], []
        for g, (vehicle, powertrain, traffic, user) in enumerate(groups):
            used = vkm[:, g] > 0
            if not used.any():
                continue
            used_at = np.flatnonzero(used)
            peak = a.peak_period_vkm_share
            # The counts hold at Vallensbæk only, so through traffic is kept inside the boundary.
            outside = 0.0 if traffic == "through" else 1.0 - edges.inside_share[used]
            for area, share in (("inside", edges.inside_share[used]), ("outside", outside)):
                for speed, fraction in ((congested_kph[used], peak), (edges.speed_kph[used], 1.0 - peak)):
                    values = vkm[used, g] * share * fraction
                    keep = values > 0
                    if not keep.any():
                        continue
                    piece.append(np.full(int(keep.sum()), len(labels)))
                    labels.append((vehicle, powertrain, area, traffic, user))
                    edge_at.append(used_at[keep])
                    speed_at.append(speed[keep])
                    value_at.append(values[keep])
        label = np.array(labels, dtype=object)[np.concatenate(piece)]
        at = np.concatenate(edge_at)
        frame = pd.DataFrame({
            "vehicle": label[:, 0], "powertrain": label[:, 1],
            "road_category": edges.road_category[at],
            "speed_limit_kph": np.rint(edges.maxspeed_kph[at]).astype(int),
            "speed_kph": np.concatenate(speed_at), "area": label[:, 2], "traffic": label[:, 3], "road_user": label[:, 4],
            "vkm_per_year": np.concatenate(value_at),
        })
        return frame, commute_daily

    def _visitor_od(self, year: int) -> np.ndarray:
        """Non-residents' daily car trips to and from Vallensbæk's workplaces, other than commuting.

        Customers, visitors, business and delivery trips: ``visitor_trips_per_job`` vehicle trips
        per local job and day (both directions), to home zones by jobs share, from external zones
        by the in-commuters' origin model.
        """
        zones = self.context.zones
        trips = self.params.assignment.visitor_trips_per_job * self.params.population.jobs.count_in(year)
        n = len(zones.ids)
        inbound = np.zeros((n, n))
        for row, zone in enumerate(zones.home):
            inbound[:, zone] = trips / 2.0 * zones.jobs_share[zone] * self.gravity.incommuter_origin_prob[row]
        return inbound + inbound.T

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
        """The long output tables of all simulated years, plus the summary."""
        tables = {name: pd.concat(frames, ignore_index=True) for name, frames in self.tables.items() if frames}
        tables["summary"] = summary_table(tables["mode_split"], tables["co2"], tables["vehicle_km"])
        return tables

    def link_volumes(self) -> pd.DataFrame:
        """Per year and edge: commuters' daily cars, through traffic, peak volume, speed, lanes.

        ``edge`` indexes :meth:`ModelContext.links_frame`; for the car-volume maps.
        """
        return pd.concat(self.link_records, ignore_index=True)
