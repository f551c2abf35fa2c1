"""Multinomial-logit mode choice, vectorised over all agents.

Utilities follow ``experiments/parameters/mode_choice.toml`` (terms and
coefficients as data). One call computes every agent's utilities from the
zone skims indexed by (home, work); there is no per-agent loop.
"""

from __future__ import annotations

import numpy as np

from model.parameters import MODES, POWERTRAINS, ChoiceParameters
from model.population import Population
from model.skims import Skims
from model.zones import Zones

CAR, BIKE, WALK, S_TRAIN, LIGHT_RAIL = range(len(MODES))


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


def utilities(
    population: Population,
    skims: Skims,
    zones: Zones,
    params: ChoiceParameters,
    bike_speed_ratio: float,
    habit: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Systematic utilities and availabilities of every mode for every agent.

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
    habit
        Add the habit bonus for last year's mode.

    Returns
    -------
    V, available
        ``N × len(MODES)`` utilities and boolean availability.
    """
    h, w = population.home, population.work
    coef = params.coefficients
    beta_t = coef.time_min
    beta_cost = beta_t / population.vot_dkk_per_min
    n = len(population)
    V = np.zeros((n, len(MODES)))
    available = np.zeros((n, len(MODES)), dtype=bool)

    car_km = skims.car_dist_km[h, w]
    per_km = car_cost_per_km(params)[np.maximum(population.powertrain, 0)]
    parking = np.array([params.costs.parking_dkk_per_trip.get(z, 0.0) for z in zones.ids])[w]
    V[:, CAR] = beta_t * skims.car_time_min[h, w] + beta_cost * (car_km * per_km + parking)
    available[:, CAR] = population.car_available

    bike_km = skims.bike_dist_km[h, w]
    bike_min = skims.bike_time_min[h, w] * np.where(population.ebike, bike_speed_ratio, 1.0)
    decay = coef.bike_distance_decay_per_km * np.where(population.ebike, coef.ebike_decay_factor, 1.0)
    effort = 1.0 + decay * np.maximum(bike_km - coef.bike_decay_free_km, 0.0)
    V[:, BIKE] = beta_t * coef.bike_time_weight * bike_min * effort + coef.cycletrack * skims.cycletrack_share[h, w]
    max_bike = np.where(population.ebike, params.availability.ebike_max_km, params.availability.bike_max_km)
    available[:, BIKE] = population.has_bike & (bike_km <= max_bike)

    walk_km = skims.walk_dist_km[h, w]
    V[:, WALK] = beta_t * coef.walk_time_weight * skims.walk_time_min[h, w]
    available[:, WALK] = walk_km <= params.availability.walk_max_km

    fare = transit_fare_dkk(zones.straight_line_km()[h, w], params)
    for index, mode in ((S_TRAIN, "s_train"), (LIGHT_RAIL, "light_rail")):
        skim = skims.transit[mode]
        ok = skim.available[h, w]
        generalised = (
            skim.ivt_min[h, w]
            + coef.wait_weight * skim.wait_min[h, w]
            + coef.access_weight * (skim.access_min[h, w] + skim.egress_min[h, w])
            + coef.transfer_penalty_min * skim.transfers[h, w]
        )
        V[:, index] = np.where(ok, beta_t * np.nan_to_num(generalised) + beta_cost * fare, 0.0)
        available[:, index] = ok

    # Nobody is left without a way to work: a commuter with no available mode gets a lift
    # (counted as car; assumption, documented in docs/model.md).
    available[~available.any(axis=1), CAR] = True
    V += np.array([params.constants[m] for m in MODES])[None, :] + population.taste
    if habit:
        last = population.mode
        has_last = last >= 0
        V[np.flatnonzero(has_last), last[has_last]] += coef.habit
    return V, available


def probabilities(V: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Logit probabilities over the available alternatives (rows with none get zeros)."""
    masked = np.where(available, V, -np.inf)
    top = masked.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    expv = np.where(available, np.exp(masked - top), 0.0)
    total = expv.sum(axis=1, keepdims=True)
    return np.divide(expv, total, out=np.zeros_like(expv), where=total > 0)

