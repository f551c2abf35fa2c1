"""External road traffic: origin–destination demand between the network's gates, from the counts.

Traffic that neither starts nor ends in Vallensbæk (cars, vans and trucks on Køge Bugt
Motorvejen, Holbækmotorvejen, Motorring 4, Ring 3 / Søndre Ringvej and the municipal roads) is
demand between the network's **gates**: the external zones, at the ends of the modelled network
(the motorway ends at Køge, Ringsted, Roskilde, Hillerød and the airport, and the radial roads into
Copenhagen, Glostrup, Herlev, Lyngby and the other neighbours). It is estimated once, in the base
year, from the counts in ``networks/vallensbaek/traffic_counts.toml`` and then routed with the
commuters in every period's assignment (:mod:`model.simulation`), so it diverts when a road is
narrowed, responds to travel time (:func:`elastic_factor`) and grows (``traffic.toml`` ``[growth]``).

Estimation (:func:`estimate`): entropy maximisation with a prior (the minimum-information
estimator of Van Zuylen and Willumsen): the OD matrix ``T`` closest to a gravity prior ``t`` in
the sense of ``Σ T ln(T/t) − T + t`` that reproduces the counts on the all-or-nothing incidence
of the gate pairs' free-flow least-cost paths. Only pairs whose path crosses a counted section
have a prior, so no external trip is invented on roads no count covers. The counts are taken net
of the local traffic the model carries itself (commuters, residents' other trips, visitors, vans,
buses), so no vehicle is counted twice. With eight counted sections and a few hundred gate pairs
the problem is heavily underdetermined: the counts fix only the totals through each section, the
prior fixes everything else (docs/model.md, "External traffic").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from model.edges import EdgeArrays
from model.errors import VmobError
from model.files import StrictModel, load_toml_model
from model.settings import DEFAULT_NETWORK_DIR
from model.skims import CarTrees, path_sums
from model.vocabulary import EXTERNAL_CLASSES
from model.zones import Zones

DEFAULT_COUNTS = DEFAULT_NETWORK_DIR / "traffic_counts.toml"
#: Relative tolerance within which the fitted matrix reproduces each count's target.
FIT_TOLERANCE = 0.01
#: Largest |λ| of an estimate (:func:`entropy_fit`), on a prior scaled to the counts' total: a gate
#: pair's trips may differ from the gravity prior by at most a factor e^2.3 ≈ 10 for each count it
#: passes. Without a bound, a count that only a few minor pairs pass (on this schematic network, the
#: assumed Søndre Ringvej count) is met by inflating those pairs a hundredfold.
ESTIMATE_BOUND = 2.3


class TrafficCount(StrictModel):
    """Annual average daily traffic on a section of a named road, both directions together.

    Without ``near`` the section is every drivable, non-ramp edge of the road inside the municipal
    boundary (or the whole road where none lies inside); with ``near = [lon, lat]`` it is the
    road's edges within ``radius_m`` of that point, so more sections of one road can be added.
    The count less the model's own local traffic at that point is external (through) traffic.
    """

    road: str
    aadt: float = Field(gt=0)
    year: int
    truck_share: float = Field(ge=0, le=1)
    source: str
    near: tuple[float, float] | None = None
    radius_m: float = Field(default=750.0, gt=0)


class TrafficCountsFile(StrictModel):
    """A traffic-count file: its ``[[counts]]`` tables, at least one."""

    counts: list[TrafficCount] = Field(min_length=1)


def load_counts(path: str | Path | None = None) -> list[TrafficCount]:
    """Read ``traffic_counts.toml``."""
    return list(load_toml_model(TrafficCountsFile, Path(path or DEFAULT_COUNTS)).counts)


@dataclass(frozen=True)
class CountSections:
    """Counts as points on the network: one edge of the road in each direction.

    ``weights[s] @ flow`` (flow per directed edge) is the two-way daily traffic at the count's
    point: ``weights[s]`` is 1 on the counted edge of each direction and 0 elsewhere, so a gate
    pair's incidence on a count is 1 if its path passes the point and 0 if not.
    """

    weights: np.ndarray  # sections × edges
    light: np.ndarray  # counted cars and vans per day, both directions
    truck: np.ndarray  # counted long vehicles per day, both directions
    roads: tuple[str, ...]


def count_sections(edges: EdgeArrays, counts: list[TrafficCount], source: str = "traffic_counts.toml") -> CountSections:
    """Locate every count on the network.

    Raises
    ------
    VmobError
        If a counted road has no drivable edge of that name (or none near the point given).
    """
    weights = np.zeros((len(counts), len(edges.u)))
    road_edges = edges.drive & ~np.char.endswith(edges.highway.astype(str), "_link")
    for s, count in enumerate(counts):
        key = f"counts[{s}]"
        mask = edges.road_mask([count.road]) & road_edges
        if not mask.any():
            known = sorted({str(n) for n in edges.name[edges.highway == "motorway"] if n})
            raise VmobError(f"{source}: {key}.road: '{count.road}' is not in the network (motorways found: {', '.join(known) or 'none'})")
        if count.near is not None:
            mask &= _near(edges, count.near, count.radius_m)
            if not mask.any():
                raise VmobError(f"{source}: {key}.near: no edge of '{count.road}' within {count.radius_m:.0f} m of {list(count.near)}")
        elif (mask & (edges.inside_share > 0)).any():
            mask &= edges.inside_share > 0
        weights[s, count_point(edges, mask, count.near)] = 1.0
    aadt = np.array([c.aadt for c in counts])
    truck = np.array([c.truck_share for c in counts])
    return CountSections(weights, aadt * (1.0 - truck), aadt * truck, tuple(c.road for c in counts))


def count_point(edges: EdgeArrays, mask: np.ndarray, near: tuple[float, float] | None) -> np.ndarray:
    """The counted edges of a road: the one nearest the point in each direction of travel.

    The point is ``near`` (WGS84) or, without it, the length-weighted middle of the ``mask`` edges.
    The second direction is the nearest edge heading the other way (a two-way street's twin or the
    other carriageway of a motorway); a one-way road has only the first.
    """
    at = np.flatnonzero(mask)
    mx = (edges.x[edges.u[at]] + edges.x[edges.v[at]]) / 2.0
    my = (edges.y[edges.u[at]] + edges.y[edges.v[at]]) / 2.0
    if near is None:
        weight = edges.length_m[at]
        x, y = float(mx @ weight / weight.sum()), float(my @ weight / weight.sum())
    else:
        x, y = _metric(near)
    distance = np.hypot(mx - x, my - y)
    first = int(np.argmin(distance))
    dx = edges.x[edges.v[at]] - edges.x[edges.u[at]]
    dy = edges.y[edges.v[at]] - edges.y[edges.u[at]]
    opposite = dx * dx[first] + dy * dy[first] < 0
    chosen = [at[first]]
    if opposite.any():
        chosen.append(at[np.flatnonzero(opposite)[np.argmin(distance[opposite])]])
    return np.array(chosen)


def _metric(lon_lat: tuple[float, float]) -> tuple[float, float]:
    """A WGS84 point in the network's metric CRS."""
    from pyproj import Transformer

    from model.settings import CRS_METRIC

    x, y = Transformer.from_crs("EPSG:4326", CRS_METRIC, always_xy=True).transform(*lon_lat)
    return float(x), float(y)


def _near(edges: EdgeArrays, lon_lat: tuple[float, float], radius_m: float) -> np.ndarray:
    """Edges whose midpoint lies within ``radius_m`` of a WGS84 point."""
    x, y = _metric(lon_lat)
    mx = (edges.x[edges.u] + edges.x[edges.v]) / 2.0
    my = (edges.y[edges.u] + edges.y[edges.v]) / 2.0
    return np.hypot(mx - x, my - y) <= radius_m


def gate_indices(zones: Zones) -> np.ndarray:
    """Zone indices of the gates: the external zones, at the ends of the modelled network."""
    return np.setdiff1d(np.arange(len(zones.ids)), np.asarray(zones.home, dtype=int))


def gate_measures(trees: CarTrees, gates: np.ndarray, edge_measures: np.ndarray) -> np.ndarray:
    """Sums of per-edge measures along the fastest gate-to-gate paths: ``measures × gates × gates``.

    ``edge_measures`` is ``measures × edges`` over all edges of :class:`EdgeArrays`.
    """
    if trees.tree_edge is None:
        from model.skims import tree_edges

        trees.tree_edge = tree_edges(trees.pred, trees.index)
    rows = trees.pred[gates]
    sums = path_sums(rows, trees.tree_edge[gates], edge_measures[:, trees.positions].T)
    nodes = trees.zone_nodes[gates]
    out = np.moveaxis(sums[:, nodes, :], -1, 0)
    reached = np.isfinite(trees.time_s[np.ix_(gates, gates)])
    return np.where(reached[None], out, 0.0)


@dataclass(frozen=True)
class Fit:
    """How well the estimated matrix reproduces its targets, and how underdetermined it was."""

    target: np.ndarray  # sections (per class: light, truck)
    fitted: np.ndarray
    at_bound: np.ndarray  # sections whose multiplier reached ESTIMATE_BOUND: the pairs passing them cannot carry the count
    unknowns: int  # gate pairs with a nonzero prior (per class)
    equations: int  # independent counts (rank of the incidence)


def entropy_fit(
    prior: np.ndarray, incidence: np.ndarray, target: np.ndarray, iterations: int = 100, bound: float = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """The matrix closest to ``prior`` (minimum information) with ``incidence @ T = target``.

    Solves the convex dual by damped Newton steps: ``T = prior · exp(Aᵀλ)`` with ``λ`` minimising
    ``Σ prior · exp(Aᵀλ) − λ·target`` (its gradient is ``A T − target``, its Hessian ``A diag(T) Aᵀ``,
    one row per count). ``prior`` and the result are flat over pairs; ``incidence`` is ``sections × pairs``.
    ``bound`` limits every ``|λ|``: a count no pair can reach otherwise drives its ``λ`` to infinity and
    the pairs that touch it only slightly to absurd sizes; with a bound such a count is met as far as a
    factor ``exp(bound)`` per section allows, and the rest stays near the prior.

    Returns
    -------
    T, multipliers
        The fitted matrix (flat) and each count's ``λ`` (``±bound`` where the bound holds it).
    """
    scale = max(float(target.max()), 1.0)
    t, v = prior / scale, target / scale
    lam = np.zeros(len(target))

    def dual(x: np.ndarray) -> tuple[float, np.ndarray]:
        T = t * np.exp(np.minimum(incidence.T @ x, 50.0))
        return float(T.sum() - x @ v), T

    value, T = dual(lam)
    for _ in range(iterations):
        gradient = incidence @ T - v
        if np.abs(gradient).max() < 1e-9:
            break
        hessian = (incidence * T) @ incidence.T + 1e-12 * np.eye(len(v))
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        size = 1.0
        while size > 1e-6:
            trial = np.clip(lam - size * step, -bound, bound)
            trial_value, trial_T = dual(trial)
            if trial_value <= value - 1e-4 * float(gradient @ (lam - trial)):
                break
            size /= 2.0
        else:
            break
        lam, value, T = trial, trial_value, trial_T
    return T * scale, lam


@dataclass
class ExternalDemand:
    """Base-year daily OD matrices between the gates, by class, and what routing them needs."""

    gates: np.ndarray  # zone indices
    daily: dict[str, np.ndarray]  # class → gates × gates vehicles per day, base year
    motorway: np.ndarray  # gates × gates: base path mostly on motorways (growth by road type)
    fits: dict[str, Fit] = field(default_factory=dict)

    def od(self, n_zones: int, klass: str, factor: np.ndarray | float = 1.0) -> np.ndarray:
        """The class's daily demand times ``factor`` as a ``zones × zones`` matrix (zero outside the gates)."""
        out = np.zeros((n_zones, n_zones))
        out[np.ix_(self.gates, self.gates)] = self.daily[klass] * factor
        return out


def gravity_prior(zones: Zones, gates: np.ndarray, dist_km: np.ndarray, decay_per_km: float) -> np.ndarray:
    """Prior between gates: activity × activity × exp(−decay · km), activity = jobs + employed residents."""
    activity = zones.jobs[gates] + zones.employed_residents[gates]
    prior = np.outer(activity, activity) * np.exp(-decay_per_km * np.nan_to_num(dist_km, nan=np.inf, posinf=np.inf))
    np.fill_diagonal(prior, 0.0)
    return prior


def estimate(
    trees: CarTrees,
    edges: EdgeArrays,
    zones: Zones,
    sections: CountSections,
    *,
    van_share: float,
    decay_per_km: float,
    local_daily: np.ndarray | None = None,
    incidence: np.ndarray | None = None,
    source: str = "traffic_counts.toml",
) -> ExternalDemand:
    """Estimate the base-year external OD matrices from the counts.

    Parameters
    ----------
    trees
        Least-cost free-flow paths from every zone node (the route class external traffic uses):
        their incidence on the counted sections, the prior's distances and each pair's road type.
    edges, zones
        The network and zones.
    sections
        The counts (:func:`count_sections`).
    van_share
        Share of the light count that is vans (the rest is cars).
    decay_per_km
        Distance decay of the gravity prior.
    local_daily
        ``edges × EXTERNAL_CLASSES`` daily vehicles the model carries itself on each edge
        (commuters, residents' other trips, visitors, vans, buses); taken out of the counts that
        have no ``non_local_share``.
    incidence
        ``sections × gates × gates``: the share of each pair's trips that crosses each section, from
        an assignment (the step-weighted mean of its all-or-nothing incidences); from ``trees``
        when omitted.
    A count that no gate pair's path crosses cannot be explained: it is left out, with a warning.
    """
    gates = gate_indices(zones)
    if incidence is None:
        incidence = gate_measures(trees, gates, sections.weights)  # sections × gates × gates
    motorway_km = gate_measures(trees, gates, (edges.length_m * (edges.road_category == "motorway") / 1000.0)[None])[0]
    total_km = np.nan_to_num(trees.dist_km[np.ix_(gates, gates)], nan=0.0, posinf=0.0)
    crosses = incidence.sum(axis=0) > 1e-6
    explained = np.array([(incidence[s] > 1e-6).any() for s in range(len(sections.roads))])
    for s in np.flatnonzero(~explained):
        warnings.warn(f"{source}: counts[{s}].road: no path between the network's gates uses '{sections.roads[s]}'; "
                      "its count is left out of the estimate", stacklevel=2)
    prior = np.where(crosses, gravity_prior(zones, gates, trees.dist_km[np.ix_(gates, gates)], decay_per_km), 0.0)
    targets = count_targets(sections, local_daily)
    A = incidence.reshape(len(sections.roads), -1)
    rank = int(np.linalg.matrix_rank(A))
    fits: dict[str, Fit] = {}
    fitted: dict[str, np.ndarray] = {}
    for group, target in targets.items():
        use = (target > 0) & explained
        at_bound = np.zeros(len(target), dtype=bool)
        flat = np.zeros(prior.size)
        if use.any():
            flat, multipliers = entropy_fit(_scaled(prior, A[use], target[use]).ravel(), A[use], target[use], bound=ESTIMATE_BOUND)
            at_bound[use] = np.abs(multipliers) >= ESTIMATE_BOUND * (1.0 - 1e-9)
        fitted[group] = flat.reshape(prior.shape)
        fits[group] = Fit(target, A @ flat, at_bound, int((prior > 0).sum()), rank)
    daily = {"car": fitted["light"] * (1.0 - van_share), "van": fitted["light"] * van_share, "truck": fitted["truck"]}
    motorway = motorway_km >= 0.5 * np.where(total_km > 0, total_km, np.inf)
    return ExternalDemand(gates, daily, motorway, fits)


def _scaled(prior: np.ndarray, incidence: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The prior times one factor, so that the counts it passes add up to the targets' total."""
    passes = float((incidence @ prior.ravel()).sum())
    return prior * (float(target.sum()) / passes if passes > 0 else 1.0)


def count_targets(sections: CountSections, local_daily: np.ndarray | None) -> dict[str, np.ndarray]:
    """External light (cars and vans) and truck traffic each count point must carry per day, both directions.

    The count less the local traffic at the point (``local_daily``, ``edges × EXTERNAL_CLASSES``), at
    least 1 % of the count (:data:`FIT_TOLERANCE`) so that every counted road keeps some through traffic.
    """
    n_edges = sections.weights.shape[1]
    local = np.zeros((n_edges, len(EXTERNAL_CLASSES))) if local_daily is None else local_daily
    seen = sections.weights @ local  # sections × classes
    light_local = seen[:, EXTERNAL_CLASSES.index("car")] + seen[:, EXTERNAL_CLASSES.index("van")]
    truck_local = seen[:, EXTERNAL_CLASSES.index("truck")]
    return {
        "light": np.maximum(sections.light - light_local, FIT_TOLERANCE * sections.light),
        "truck": np.maximum(sections.truck - truck_local, FIT_TOLERANCE * sections.truck),
    }


def elastic_factor(previous: np.ndarray, cost: np.ndarray, base_cost: np.ndarray, short_run: float, long_run: float) -> np.ndarray:
    """The year's demand factor from the cost change since the base year (partial adjustment).

    ``f_y = f_{y−1}^{1−λ} · (c/c₀)^{ε_short}`` with ``λ = ε_short / ε_long``: the first year of a
    change responds with the short-run elasticity, a lasting change approaches the long-run one
    (``f → (c/c₀)^{ε_long}``). Pairs without a finite, positive cost keep their factor.
    """
    lam = short_run / long_run if long_run != 0 else 1.0
    ok = np.isfinite(cost) & np.isfinite(base_cost) & (base_cost > 0) & (cost > 0)
    ratio = np.where(ok, cost / np.where(ok, base_cost, 1.0), 1.0)
    return previous ** (1.0 - lam) * ratio**short_run
