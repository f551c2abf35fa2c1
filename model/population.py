"""Synthetic commuters: Vallensbæk residents who commute, and in-commuters who work there.

Each agent stands for ``weight`` real commuters (1 / sample fraction). Growth of
the resident population and of local jobs after the base year is carried by the
weights (:func:`weights_in`), so the agent set itself stays fixed and a year's
step never allocates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from model.errors import VmobError
from model.parameters import FleetParameters, PopulationParameters
from model.settings import BASE_YEAR
from model.vocabulary import MODES, POWERTRAINS
from model.zones import Zones


@dataclass
class Population:
    """Agent attributes as arrays (one entry per agent); the model's state lives here.

    Attributes
    ----------
    resident
        True for Vallensbæk residents, False for in-commuters.
    home, work
        Zone indices (see :class:`model.zones.Zones`).
    car_available, powertrain, car_age
        Household car availability, the car's powertrain index into
        :data:`model.vocabulary.POWERTRAINS` (-1 without a car) and its age in years.
    has_bike, ebike
        Bicycle ownership and whether it is an e-bike.
    vot_dkk_per_min
        Value of travel time.
    taste
        ``N × modes`` individual deviations of the modal constants (columns in the order of the
        model's modes, ``choice.modes`` of the parameters).
    mode
        Column of the chosen mode this year (-1 before the first choice).
    base_weight
        Real commuters one agent stands for in the base year.
    """

    resident: np.ndarray
    home: np.ndarray
    work: np.ndarray
    car_available: np.ndarray
    powertrain: np.ndarray
    car_age: np.ndarray
    has_bike: np.ndarray
    ebike: np.ndarray
    vot_dkk_per_min: np.ndarray
    taste: np.ndarray
    mode: np.ndarray
    base_weight: np.ndarray

    def __len__(self) -> int:
        return len(self.resident)


@dataclass(frozen=True)
class Gravity:
    """Calibrated workplace-choice model."""

    beta: float
    local_factor: float
    mean_km: float
    local_share: float
    resident_dest_prob: np.ndarray  # home zones × all zones
    incommuter_origin_prob: np.ndarray  # home zones (workplace) × all zones (origin)


def destination_jobs(zones: Zones, local_jobs: float) -> np.ndarray:
    """Jobs per zone: external municipalities' counts, local jobs spread by jobs share."""
    return np.where(zones.is_home, zones.jobs_share * local_jobs, zones.jobs)


def calibrate_gravity(zones: Zones, distance_km: np.ndarray, params: PopulationParameters, local_jobs: float) -> Gravity:
    """Find the distance decay and local-job factor that meet both workplace targets.

    ``P(j | i) ∝ k_j · jobs_j · exp(-beta · km_ij)`` with ``k_j`` the local-job
    factor for zones inside the municipality and 1 elsewhere. ``beta`` sets the
    residents' mean one-way commute, ``k`` the share who work in the
    municipality; each is found by bisection in turn until both hold. Means are
    weighted by the home zones' population shares.

    Raises
    ------
    VmobError
        If a target cannot be reached within the allowed parameter range.
    """
    jobs = destination_jobs(zones, local_jobs)
    home = zones.home
    d = distance_km[home]
    w = zones.population_share[home]
    gravity = params.gravity
    log_jobs = np.log(np.maximum(jobs, 1e-12))

    def probabilities(beta: float, k: float) -> np.ndarray:
        logits = log_jobs[None, :] + np.log(k) * zones.is_home[None, :] - beta * d
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits) * (jobs > 0)[None, :]
        return p / p.sum(axis=1, keepdims=True)

    def mean_km(beta: float, k: float) -> float:
        return float(w @ (probabilities(beta, k) * d).sum(axis=1))

    def local_share(beta: float, k: float) -> float:
        return float(w @ probabilities(beta, k)[:, zones.is_home].sum(axis=1))

    def bisect(f, low: float, high: float, target: float, decreasing: bool, what: str) -> float:
        f_low, f_high = f(low), f(high)
        if not min(f_low, f_high) <= target <= max(f_low, f_high):
            raise VmobError(
                f"population.toml: gravity.{what} = {target} cannot be reached on this network "
                f"(range {min(f_low, f_high):.3f}–{max(f_low, f_high):.3f})"
            )
        for _ in range(60):
            mid = 0.5 * (low + high)
            if (f(mid) > target) == decreasing:
                low = mid
            else:
                high = mid
        return 0.5 * (low + high)

    beta, k = gravity.beta_min, 1.0
    for _ in range(30):
        beta = bisect(lambda b, k=k: mean_km(b, k), gravity.beta_min, gravity.beta_max, gravity.target_mean_km, True, "target_mean_km")
        k_new = bisect(
            lambda x, beta=beta: local_share(beta, x), 1e-3, gravity.local_factor_max, gravity.target_local_share, False,
            "target_local_share",
        )
        if abs(np.log(k_new / k)) < 1e-6:
            k = k_new
            break
        k = k_new
    beta = bisect(lambda b: mean_km(b, k), gravity.beta_min, gravity.beta_max, gravity.target_mean_km, True, "target_mean_km")
    workers = np.where(zones.is_home, 0.0, zones.employed_residents)
    origin_logits = np.log(np.maximum(workers, 1e-12))[None, :] - beta * distance_km[:, home].T
    origin = np.exp(origin_logits - origin_logits.max(axis=1, keepdims=True)) * (workers > 0)[None, :]
    return Gravity(beta, k, mean_km(beta, k), local_share(beta, k), probabilities(beta, k), origin / origin.sum(axis=1, keepdims=True))


def draw_categorical(prob: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of a row-stochastic matrix (inverse CDF)."""
    cumulative = np.cumsum(prob, axis=1)
    u = rng.random(int(prob.shape[0]))[:, None] * cumulative[:, -1:]
    return np.minimum((u > cumulative).sum(axis=1), prob.shape[1] - 1)


def synthesize(
    zones: Zones,
    gravity: Gravity,
    params: PopulationParameters,
    fleet: FleetParameters,
    sample_fraction: float,
    rng: np.random.Generator,
    modes: tuple[str, ...] | list[str] = MODES,
) -> Population:
    """Create the base-year commuters.

    Parameters
    ----------
    zones
        Home zones and external municipalities.
    gravity
        Calibrated workplace model.
    params, fleet
        Population and fleet parameters.
    sample_fraction
        Share of real commuters represented by agents (0 < f ≤ 1).
    rng
        The model's random generator.
    modes
        The model's modes, in column order (one taste column each).
    """
    if not 0 < sample_fraction <= 1:
        raise VmobError(f"sample_fraction must be in (0, 1], not {sample_fraction}")
    residents_total = params.residents.population_in(BASE_YEAR) * params.residents.commuters_per_resident
    n_res = max(1, int(round(residents_total * sample_fraction)))
    home_res = zones.home[draw_categorical(np.tile(zones.population_share[zones.home], (n_res, 1)), rng)]
    row = {z: i for i, z in enumerate(zones.home)}
    work_res = draw_categorical(gravity.resident_dest_prob[[row[h] for h in home_res]], rng)
    local_jobs = params.jobs.count_in(BASE_YEAR)
    residents_local = residents_total * float(np.mean(zones.is_home[work_res]))
    incommuters_total = max(local_jobs - residents_local, 0.0)
    n_in = int(round(incommuters_total * sample_fraction))
    work_in = zones.home[draw_categorical(np.tile(zones.jobs_share[zones.home], (n_in, 1)), rng)]
    home_in = draw_categorical(gravity.incommuter_origin_prob[[row[w] for w in work_in]], rng)

    n = n_res + n_in
    resident = np.arange(n) < n_res
    no_car = np.where(resident, params.residents.no_car_share, params.in_commuters.no_car_share)
    car_available = rng.random(n) >= no_car
    stock = np.array([fleet.stock_2019.get(p, 0.0) for p in POWERTRAINS])
    powertrain = np.where(car_available, draw_categorical(np.tile(stock, (n, 1)), rng), -1)
    car_age = np.where(car_available, rng.integers(0, fleet.replacement.max_initial_age + 1, n), 0)
    has_bike = rng.random(n) < params.residents.bike_share
    ebike = has_bike & (rng.random(n) < params.residents.ebike_share_2019)
    vot = params.value_of_time
    sigma = vot.log_sd
    vot_hour = vot.mean_dkk_per_hour * np.exp(sigma * rng.standard_normal(n) - 0.5 * sigma**2)
    taste_sd = np.array([params.taste_sd.get(m, 0.0) for m in modes])
    taste = rng.standard_normal((n, len(modes))) * taste_sd[None, :]
    weight = np.where(resident, residents_total / max(n_res, 1), incommuters_total / max(n_in, 1))
    return Population(
        resident=resident,
        home=np.concatenate([home_res, home_in]).astype(np.int64),
        work=np.concatenate([work_res, work_in]).astype(np.int64),
        car_available=car_available,
        powertrain=powertrain.astype(np.int64),
        car_age=car_age.astype(np.int64),
        has_bike=has_bike,
        ebike=ebike,
        vot_dkk_per_min=vot_hour / 60.0,
        taste=taste,
        mode=np.full(n, -1, dtype=np.int64),
        base_weight=weight,
    )


def weights_in(population: Population, params: PopulationParameters, year: int) -> np.ndarray:
    """Real commuters per agent in ``year``: base weights scaled by population and job growth."""
    resident_growth = params.residents.population_in(year) / params.residents.population_in(BASE_YEAR)
    job_growth = params.jobs.count_in(year) / params.jobs.count_in(BASE_YEAR)
    return population.base_weight * np.where(population.resident, resident_growth, job_growth)


def trip_length_distribution(
    population: Population, distance_km: np.ndarray, bins: tuple[float, ...] = (0, 2, 5, 10, 15, 20, 30, 50, 100)
) -> dict[str, float]:
    """Share of residents' one-way commutes by road-distance band (km)."""
    d = distance_km[population.home, population.work][population.resident]
    w = population.base_weight[population.resident]
    counts, edges = np.histogram(d, bins=np.array((*bins, np.inf)), weights=w)
    labels = [f"{int(a)}-{int(b)} km" if np.isfinite(b) else f"{int(a)}+ km" for a, b in itertools.pairwise(edges)]
    return dict(zip(labels, (counts / counts.sum()).round(4).tolist(), strict=True))
