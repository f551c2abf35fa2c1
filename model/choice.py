"""Nested-logit mode choice, vectorised over all agents, driven by a mode table.

Utilities follow ``experiments/parameters/mode_choice.toml`` (terms and coefficients as data).
Each mode of the parameters' ``modes`` list is a :class:`model.vocabulary.Mode` whose ``rule``
names a :class:`ModeRule` of :data:`MODE_RULES`: the function giving its utility and
availability for every agent, and the zone-to-zone distance its passengers travel. One call
computes every agent's utilities from the zone skims indexed by (home, work); there is no
per-agent loop.

The modes are grouped in the nests of :data:`model.vocabulary.NESTS` with the scales μ of
``[nests]`` in ``mode_choice.toml`` (:class:`ChoiceStructure`); a nest with μ = 1 is plain
multinomial logit. The public-transport nest is a nest of paths of one mode
(:data:`model.vocabulary.PATH_NESTS`): the S-train path and the best path with a light-rail leg
share the rider's taste and habit, and a path that is worse on every attribute than another
path of the same rider is not offered (:func:`drop_dominated`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from model.parameters import ChoiceParameters
from model.population import Population
from model.skims import Skims
from model.vocabulary import FALLBACK_MODE, NESTS, PATH_NESTS, POWERTRAINS, Mode, mode_table
from model.zones import Zones


def transit_fare_dkk(straight_km: np.ndarray, params: ChoiceParameters) -> np.ndarray:
    """Per-trip fare on a period card from the zone count implied by straight-line distance."""
    costs = params.costs
    n_zones = np.maximum(2, 1 + np.ceil(straight_km / costs.zone_km)).astype(int)
    table = np.asarray(costs.fare_by_zones)  # entry k is the fare for k + 1 zones
    within = n_zones <= len(table)
    fare = np.where(
        within,
        table[np.minimum(n_zones, len(table)) - 1],
        table[-1] + (n_zones - len(table)) * costs.fare_per_extra_zone,
    )
    return fare * costs.period_card_factor


def car_cost_per_km(params: ChoiceParameters) -> np.ndarray:
    """Perceived DKK per car-km by powertrain index (running + share of ownership)."""
    c = params.costs
    return np.array([c.running_dkk_per_km[p] + c.ownership_share_perceived * c.ownership_dkk_per_km[p] for p in POWERTRAINS])


@dataclass
class ChoiceInputs:
    """What every mode rule reads: the agents, the skims of their commutes and the parameters.

    Parameters
    ----------
    population
        Agents (home, work, car, bike, value of time, tastes, last mode).
    skims
        Zone × zone level of service.
    zones
        Zone ids (for parking charges) and straight-line distances (fares).
    params
        Coefficients, costs, availability rules and constants.
    bike_speed_ratio
        Regular bike speed ÷ e-bike speed (scales e-bike times).
    parking_dkk_per_trip
        Parking charge per car trip by destination zone id (the run's prices, see
        :class:`model.supply_state.SupplyState`); zones not named are free.
    """

    population: Population
    skims: Skims
    zones: Zones
    params: ChoiceParameters
    bike_speed_ratio: float
    parking_dkk_per_trip: Mapping[str, float]

    @property
    def home(self) -> np.ndarray:
        """Home zone index per agent."""
        return self.population.home

    @property
    def work(self) -> np.ndarray:
        """Workplace zone index per agent."""
        return self.population.work

    @property
    def beta_time(self) -> float:
        """Utility per minute of in-vehicle time."""
        return self.params.coefficients.time_min

    @cached_property
    def beta_cost(self) -> np.ndarray:
        """Utility per DKK, per agent (the time coefficient over the agent's value of time)."""
        return self.beta_time / self.population.vot_dkk_per_min

    @cached_property
    def fare_dkk(self) -> np.ndarray:
        """Public-transport fare per trip, per agent."""
        return transit_fare_dkk(self.zones.straight_line_km()[self.home, self.work], self.params)


#: A mode's utility and availability for every agent, given the inputs and the mode's name.
Terms = Callable[[ChoiceInputs, str], tuple[np.ndarray, np.ndarray]]
#: Zone × zone distance (km) a mode's passengers travel, given the skims and the mode's name.
Distance = Callable[[Skims, str], np.ndarray]
#: A path's attributes per agent (``N × len(PATH_ATTRIBUTES)``, less is better), for dominance.
Attributes = Callable[[ChoiceInputs, str], np.ndarray]

#: The attributes on which two paths of a path nest are compared (less is better on each).
PATH_ATTRIBUTES: tuple[str, ...] = ("in_vehicle_min", "wait_min", "access_egress_min", "transfers", "fare_dkk")


@dataclass(frozen=True)
class ModeRule:
    """How the model treats the modes that name this rule.

    Attributes
    ----------
    terms
        Systematic utility (before the constant, taste and habit) and availability per agent.
    distance_km
        Distance travelled per zone pair, for passenger-km.
    path_attributes
        For the members of a path nest: each agent's path attributes (:data:`PATH_ATTRIBUTES`),
        compared to find dominated paths; None for other modes.
    """

    terms: Terms
    distance_km: Distance
    path_attributes: Attributes | None = None


def car_terms(x: ChoiceInputs, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Driving: generalised minutes of the route class (time + per-km running and ownership cost), parking.

    The route part is the least generalised cost of the agent's route class
    (:class:`model.skims.CarRouteClasses`), so a slower link never makes driving more attractive.
    """
    h, w = x.home, x.work
    route_class = x.skims.car_routes.of_agents(x.population.powertrain)
    parking = np.array([x.parking_dkk_per_trip.get(z, 0.0) for z in x.zones.ids])[w]
    utility = x.beta_time * x.skims.car_generalised_min[route_class, h, w] + x.beta_cost * parking
    return utility, x.population.car_available


def bike_terms(x: ChoiceInputs, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Cycling: effort-weighted time growing with distance (less on e-bikes), cycle-track share."""
    h, w, pop = x.home, x.work, x.population
    coef, rules = x.params.coefficients, x.params.availability
    bike_km = x.skims.bike_dist_km[h, w]
    bike_min = x.skims.bike_time_min[h, w] * np.where(pop.ebike, x.bike_speed_ratio, 1.0)
    decay = coef.bike_distance_decay_per_km * np.where(pop.ebike, coef.ebike_decay_factor, 1.0)
    effort = 1.0 + decay * np.maximum(bike_km - coef.bike_decay_free_km, 0.0)
    utility = x.beta_time * coef.bike_time_weight * bike_min * effort + coef.cycletrack * x.skims.cycletrack_share[h, w]
    max_km = np.where(pop.ebike, rules.ebike_max_km, rules.bike_max_km)
    return utility, pop.has_bike & (bike_km <= max_km)


def walk_terms(x: ChoiceInputs, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Walking: weighted time, up to the longest walk."""
    h, w = x.home, x.work
    utility = x.beta_time * x.params.coefficients.walk_time_weight * x.skims.walk_time_min[h, w]
    return utility, x.skims.walk_dist_km[h, w] <= x.params.availability.walk_max_km


def transit_terms(x: ChoiceInputs, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Public transport on the mode's skim: weighted generalised minutes and the fare."""
    h, w, coef = x.home, x.work, x.params.coefficients
    skim = x.skims.transit[mode]
    ok = skim.available[h, w]
    generalised = (
        skim.ivt_min[h, w]
        + coef.wait_weight * skim.wait_min[h, w]
        + coef.access_weight * (skim.access_min[h, w] + skim.egress_min[h, w])
        + coef.transfer_penalty_min * skim.transfers[h, w]
    )
    return np.where(ok, x.beta_time * np.nan_to_num(generalised) + x.beta_cost * x.fare_dkk, 0.0), ok


def transit_attributes(x: ChoiceInputs, mode: str) -> np.ndarray:
    """The rider's path on the mode's skim: in-vehicle, wait, access + egress minutes, transfers, fare."""
    h, w = x.home, x.work
    skim = x.skims.transit[mode]
    return np.column_stack([
        skim.ivt_min[h, w], skim.wait_min[h, w], skim.access_min[h, w] + skim.egress_min[h, w], skim.transfers[h, w],
        x.fare_dkk,
    ])


def transit_km(skims: Skims, mode: str) -> np.ndarray:
    """Rail km of the mode's best path (0 where it has none)."""
    return np.nan_to_num(skims.transit[mode].rail_km)


#: The rules modes may name (:attr:`model.vocabulary.Mode.rule`). A mode that behaves like an
#: existing one reuses its rule; new behaviour is one more entry.
MODE_RULES: dict[str, ModeRule] = {
    "car": ModeRule(car_terms, lambda skims, mode: skims.car_dist_km),
    "bike": ModeRule(bike_terms, lambda skims, mode: skims.bike_dist_km),
    "walk": ModeRule(walk_terms, lambda skims, mode: skims.walk_dist_km),
    "transit": ModeRule(transit_terms, transit_km, transit_attributes),
}


@dataclass(frozen=True)
class ChoiceStructure:
    """How the alternatives are nested.

    Attributes
    ----------
    nest
        Index into :data:`model.vocabulary.NESTS` of each column's nest.
    scale
        Scale μ in (0, 1] of each nest of :data:`model.vocabulary.NESTS` (1: plain logit).
    shares_with
        Per column, the column whose taste draw and habit it shares: the first member of its
        path nest (:data:`model.vocabulary.PATH_NESTS`), else itself.
    """

    nest: np.ndarray
    scale: np.ndarray
    shares_with: np.ndarray

    @classmethod
    def of(cls, modes: tuple[Mode, ...], scales: Mapping[str, float] | None = None) -> ChoiceStructure:
        """The structure of ``modes`` with the nest scales given (``ChoiceParameters.nests``)."""
        scales = scales or {}
        nest = np.array([NESTS.index(m.nest) for m in modes], dtype=np.int64)
        first: dict[str, int] = {}
        for column, mode in enumerate(modes):
            first.setdefault(mode.nest, column)
        shares_with = np.array([first[m.nest] if m.nest in PATH_NESTS else k for k, m in enumerate(modes)], dtype=np.int64)
        return cls(nest, np.array([float(scales.get(name, 1.0)) for name in NESTS]), shares_with)

    @property
    def same_mode(self) -> np.ndarray:
        """``J × J``: whether two columns are the same mode (the same column, or paths of one path nest)."""
        return self.shares_with[:, None] == self.shares_with[None, :]

    def habit_bonus(self, last: int, habit: float) -> np.ndarray:
        """The utility bonus of each column for an agent whose last mode was column ``last``."""
        return habit * self.same_mode[last].astype(float)


def choice_structure(params: ChoiceParameters) -> ChoiceStructure:
    """The :class:`ChoiceStructure` of the parameters' modes and nest scales."""
    return ChoiceStructure.of(mode_table(params.modes), params.nests)


def drop_dominated(attributes: list[np.ndarray | None], available: np.ndarray, structure: ChoiceStructure) -> np.ndarray:
    """Availability without the paths dominated by another available path of the same path nest.

    A path is dominated when another available path of the rider is no worse on every
    attribute and better on at least one (:data:`PATH_ATTRIBUTES`); it is not offered.

    Parameters
    ----------
    attributes
        Per column, ``N × k`` path attributes (None for columns that are not paths).
    available
        ``N × J`` availability before the check.
    structure
        The nests.
    """
    kept = available.copy()
    columns = [k for k, a in enumerate(attributes) if a is not None]
    for a in columns:
        for b in columns:
            if a == b or structure.shares_with[a] != structure.shares_with[b]:
                continue
            xa, xb = attributes[a], attributes[b]
            assert xa is not None and xb is not None
            both = available[:, a] & available[:, b]
            with np.errstate(invalid="ignore"):
                dominated = both & (xb <= xa).all(axis=1) & (xb < xa).any(axis=1)
            kept[dominated, a] = False
    return kept


def rules_of(modes: tuple[Mode, ...]) -> list[ModeRule]:
    """The rule of each mode, in order.

    Raises
    ------
    KeyError
        Naming a mode whose rule is not in :data:`MODE_RULES`.
    """
    missing = [m.name for m in modes if m.rule not in MODE_RULES]
    if missing:
        raise KeyError(f"no choice rule for mode {', '.join(missing)} (rules: {', '.join(MODE_RULES)})")
    return [MODE_RULES[m.rule] for m in modes]


def vehicle_columns(modes: tuple[Mode, ...], vehicle: str = "car") -> np.ndarray:
    """Columns of the modes whose trips drive ``vehicle`` on the roads."""
    return np.array([k for k, m in enumerate(modes) if m.vehicle == vehicle], dtype=np.int64)


def trip_distance_km(population: Population, skims: Skims, modes: tuple[Mode, ...]) -> np.ndarray:
    """One-way distance of each agent's commute by its chosen mode (0 before any choice)."""
    distance = np.zeros(len(population))
    for column, (mode, rule) in enumerate(zip(modes, rules_of(modes), strict=True)):
        chosen = population.mode == column
        distance[chosen] = rule.distance_km(skims, mode.name)[population.home[chosen], population.work[chosen]]
    return distance


def utilities(
    population: Population,
    skims: Skims,
    zones: Zones,
    params: ChoiceParameters,
    bike_speed_ratio: float,
    habit: bool = True,
    parking_dkk_per_trip: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Systematic utilities and availabilities of every mode for every agent.

    Parameters
    ----------
    population, skims, zones, params, bike_speed_ratio
        As in :class:`ChoiceInputs`; the modes are ``params.modes``.
    habit
        Add the habit bonus for last year's mode.
    parking_dkk_per_trip
        The run's parking charges; the parameters' baseline charges when omitted.

    Returns
    -------
    V, available
        ``N × len(params.modes)`` utilities and boolean availability. The paths of a path nest
        share the taste of its first path and the habit; a dominated path is unavailable.
    """
    modes = mode_table(params.modes)
    structure = ChoiceStructure.of(modes, params.nests)
    parking = params.costs.parking_dkk_per_trip if parking_dkk_per_trip is None else parking_dkk_per_trip
    inputs = ChoiceInputs(population, skims, zones, params, bike_speed_ratio, parking)
    n = len(population)
    V = np.zeros((n, len(modes)))
    available = np.zeros((n, len(modes)), dtype=bool)
    attributes: list[np.ndarray | None] = []
    for column, (mode, rule) in enumerate(zip(modes, rules_of(modes), strict=True)):
        V[:, column], available[:, column] = rule.terms(inputs, mode.name)
        path_attributes = rule.path_attributes if mode.nest in PATH_NESTS else None
        attributes.append(path_attributes(inputs, mode.name) if path_attributes is not None else None)
    available = drop_dominated(attributes, available, structure)

    # Nobody is left without a way to work: a commuter with no available mode gets a lift
    # (counted as car; assumption, documented in docs/model.md).
    available[~available.any(axis=1), params.modes.index(FALLBACK_MODE)] = True
    # Paths of one mode share the rider's taste for the mode (the first path's draw).
    V += np.array([params.constants[m] for m in params.modes])[None, :] + population.taste[:, structure.shares_with]
    if habit:
        last = population.mode
        has_last = last >= 0
        V[has_last] += params.coefficients.habit * structure.same_mode[last[has_last]]
    return V, available


def _logit(V: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Multinomial-logit probabilities over the available alternatives (rows with none get zeros)."""
    masked = np.where(available, V, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    expv = np.where(available, np.exp(masked - top), 0.0)
    total = expv.sum(axis=1, keepdims=True)
    return np.divide(expv, total, out=np.zeros_like(expv), where=total > 0)


def logsum(V: np.ndarray, available: np.ndarray, mu: float = 1.0) -> np.ndarray:
    """``μ · ln Σ exp(V / μ)`` over each row's available alternatives (−inf where none is)."""
    scaled = np.where(available, V / mu, -np.inf)
    top = scaled.max(axis=1)
    has = np.isfinite(top)
    safe_top = np.where(has, top, 0.0)
    total = np.where(available, np.exp(scaled - safe_top[:, None]), 0.0).sum(axis=1)
    out = np.full(len(V), -np.inf)
    out[has] = mu * (safe_top[has] + np.log(total[has]))
    return out


def _nest_logsums(V: np.ndarray, available: np.ndarray, structure: ChoiceStructure) -> tuple[np.ndarray, np.ndarray]:
    """The nests present and each row's logsum of each of them (N × nests, −inf for an empty nest)."""
    nests = np.unique(structure.nest)
    columns = [np.flatnonzero(structure.nest == nest) for nest in nests]
    return nests, np.column_stack([
        logsum(V[:, members], available[:, members], structure.scale[nest]) for nest, members in zip(nests, columns, strict=True)
    ])


def expected_utility(V: np.ndarray, available: np.ndarray, structure: ChoiceStructure | None = None) -> np.ndarray:
    """The choice's logsum (expected maximum utility) per row, nests included; −inf where nothing is available."""
    if structure is None:
        return logsum(V, available)
    _, upper = _nest_logsums(V, available, structure)
    return logsum(upper, np.isfinite(upper))


def probabilities(V: np.ndarray, available: np.ndarray, structure: ChoiceStructure | None = None) -> np.ndarray:
    """Nested-logit probabilities over the available alternatives (rows with none get zeros).

    With nest scales μ (``structure``): ``P(j) = P(nest) · P(j | nest)``, where
    ``P(j | nest)`` is the logit of ``V / μ`` over the nest's available members and
    ``P(nest)`` the logit of the nests' logsums ``μ · ln Σ exp(V / μ)``. Without a
    structure, or with every μ = 1, this is the multinomial logit.
    """
    if structure is None or np.all(structure.scale[structure.nest] == 1.0):
        return _logit(V, available)
    P = np.zeros(V.shape)
    nests, logsums = _nest_logsums(V, available, structure)
    upper = _logit(np.where(np.isfinite(logsums), logsums, 0.0), np.isfinite(logsums))
    for k, nest in enumerate(nests):
        members = np.flatnonzero(structure.nest == nest)
        P[:, members] = _logit(V[:, members] / structure.scale[nest], available[:, members]) * upper[:, [k]]
    return P
