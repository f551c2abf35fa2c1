"""Multinomial-logit mode choice, vectorised over all agents, driven by a mode table.

Utilities follow ``experiments/parameters/mode_choice.toml`` (terms and coefficients as data).
Each mode of the parameters' ``modes`` list is a :class:`model.vocabulary.Mode` whose ``rule``
names a :class:`ModeRule` of :data:`MODE_RULES`: the function giving its utility and
availability for every agent, and the zone-to-zone distance its passengers travel. One call
computes every agent's utilities from the zone skims indexed by (home, work); there is no
per-agent loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from model.parameters import ChoiceParameters
from model.population import Population
from model.skims import Skims
from model.vocabulary import FALLBACK_MODE, POWERTRAINS, Mode, mode_table
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


@dataclass(frozen=True)
class ModeRule:
    """How the model treats the modes that name this rule.

    Attributes
    ----------
    terms
        Systematic utility (before the constant, taste and habit) and availability per agent.
    distance_km
        Distance travelled per zone pair, for passenger-km.
    """

    terms: Terms
    distance_km: Distance


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


def transit_km(skims: Skims, mode: str) -> np.ndarray:
    """Rail km of the mode's best path (0 where it has none)."""
    return np.nan_to_num(skims.transit[mode].rail_km)


#: The rules modes may name (:attr:`model.vocabulary.Mode.rule`). A mode that behaves like an
#: existing one reuses its rule; new behaviour is one more entry.
MODE_RULES: dict[str, ModeRule] = {
    "car": ModeRule(car_terms, lambda skims, mode: skims.car_dist_km),
    "bike": ModeRule(bike_terms, lambda skims, mode: skims.bike_dist_km),
    "walk": ModeRule(walk_terms, lambda skims, mode: skims.walk_dist_km),
    "transit": ModeRule(transit_terms, transit_km),
}


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
        ``N × len(params.modes)`` utilities and boolean availability.
    """
    modes = mode_table(params.modes)
    parking = params.costs.parking_dkk_per_trip if parking_dkk_per_trip is None else parking_dkk_per_trip
    inputs = ChoiceInputs(population, skims, zones, params, bike_speed_ratio, parking)
    n = len(population)
    V = np.zeros((n, len(modes)))
    available = np.zeros((n, len(modes)), dtype=bool)
    for column, (mode, rule) in enumerate(zip(modes, rules_of(modes), strict=True)):
        V[:, column], available[:, column] = rule.terms(inputs, mode.name)

    # Nobody is left without a way to work: a commuter with no available mode gets a lift
    # (counted as car; assumption, documented in docs/model.md).
    available[~available.any(axis=1), params.modes.index(FALLBACK_MODE)] = True
    V += np.array([params.constants[m] for m in params.modes])[None, :] + population.taste
    if habit:
        last = population.mode
        has_last = last >= 0
        V[np.flatnonzero(has_last), last[has_last]] += params.coefficients.habit
    return V, available


def probabilities(V: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Logit probabilities over the available alternatives (rows with none get zeros)."""
    masked = np.where(available, V, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    expv = np.where(available, np.exp(masked - top), 0.0)
    total = expv.sum(axis=1, keepdims=True)
    return np.divide(expv, total, out=np.zeros_like(expv), where=total > 0)

