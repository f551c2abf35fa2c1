"""All residents and their households: children, youth, students, commuters, other adults, pensioners.

The commuters of :mod:`model.population` are the working residents; this module adds everyone
else from the population facts (age groups, household size, households without a car;
``population.toml``) and groups all of them into households, so that a household's car is
shared by its members. Commuters keep their homes, workplaces, cars and bikes: the commuter
arrays and their draws are untouched, the rest comes from the stream ``persons``.

Like :class:`model.population.Population`, everything is arrays (one entry per person or
household); growth of the resident population is carried by the weights (:func:`person_weights`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.errors import VmobError
from model.parameters import PopulationParameters
from model.population import Population, draw_categorical
from model.settings import BASE_YEAR
from model.vocabulary import AGE_GROUPS, PERSON_AGE_GROUP, PERSON_GROUPS, POWERTRAINS
from model.zones import Zones

POPULATION_FILE = "population.toml"


@dataclass
class Persons:
    """Every resident agent, commuters included.

    Attributes
    ----------
    group, age_group
        Indices into :data:`model.vocabulary.PERSON_GROUPS` and :data:`model.vocabulary.AGE_GROUPS`.
    home, household
        Home zone index and household index (into :class:`Households`).
    commuter
        Index of the person's row in the commuter :class:`~model.population.Population`, -1 for
        persons who do not commute.
    has_bike, ebike
        Bicycle ownership and whether it is an e-bike (commuters: their own).
    vot_dkk_per_min, taste
        Value of time and ``N × modes`` taste deviations (commuters: their own).
    base_weight
        Real residents one agent stands for in the base year.
    """

    group: np.ndarray
    age_group: np.ndarray
    home: np.ndarray
    household: np.ndarray
    commuter: np.ndarray
    has_bike: np.ndarray
    ebike: np.ndarray
    vot_dkk_per_min: np.ndarray
    taste: np.ndarray
    base_weight: np.ndarray

    def __len__(self) -> int:
        return len(self.group)


@dataclass
class Households:
    """Households of the residents.

    Attributes
    ----------
    home
        Home zone index.
    car
        Whether the household has a car.
    commuter_car
        A commuter (index into the commuter population) whose car the household uses, -1 if no
        member commutes with a car of the household's own; such a household's car follows the
        residents' fleet mix (:func:`household_powertrains`).
    """

    home: np.ndarray
    car: np.ndarray
    commuter_car: np.ndarray

    def __len__(self) -> int:
        return len(self.home)


def group_counts(params: PopulationParameters, year: int = BASE_YEAR) -> dict[str, float]:
    """Real residents per person group in ``year``.

    Raises
    ------
    VmobError
        If the commuters and students outnumber the residents aged 18-64.
    """
    residents = params.residents.population_in(year)
    shares = params.age_groups
    adults = shares["18-64"] * residents
    workers = params.residents.commuters_per_resident * residents
    students = params.households.students_per_adult * adults
    other = adults - workers - students
    if other < 0:
        raise VmobError(
            f"{POPULATION_FILE}: key 'age_groups.18-64': {adults:,.0f} residents aged 18-64 are fewer than the "
            f"{workers:,.0f} commuters (residents.commuters_per_resident) and {students:,.0f} students together"
        )
    return {
        "child": shares["0-14"] * residents, "youth": shares["15-17"] * residents, "student": students,
        "worker": workers, "other_adult": other, "pensioner": shares["65+"] * residents,
    }


def synthesize_persons(
    population: Population, zones: Zones, params: PopulationParameters, sample_fraction: float, rng: np.random.Generator,
    modes: tuple[str, ...] | list[str],
) -> tuple[Persons, Households]:
    """Create all residents and their households around the resident commuters.

    Parameters
    ----------
    population
        The commuters (:func:`model.population.synthesize`); its residents are the workers.
    zones
        Home zones (population shares).
    params
        Population parameters (age groups, households, bikes, value of time, tastes).
    sample_fraction
        Share of real residents represented by agents, as for the commuters.
    rng
        The stream ``persons``.
    modes
        The model's modes, in column order (one taste column each).
    """
    counts = group_counts(params)
    workers = np.flatnonzero(population.resident)
    group_index = {g: i for i, g in enumerate(PERSON_GROUPS)}
    others = [g for g in PERSON_GROUPS if g != "worker"]
    n_other = {g: int(round(counts[g] * sample_fraction)) for g in others}
    group = np.concatenate([np.full(len(workers), group_index["worker"])] + [np.full(n_other[g], group_index[g]) for g in others])
    n = len(group)
    is_worker = np.arange(n) < len(workers)
    weight = np.empty(n)
    weight[is_worker] = population.base_weight[workers]
    for g in others:
        weight[group == group_index[g]] = counts[g] / max(n_other[g], 1)

    home_share = zones.population_share[zones.home]
    home = np.empty(n, dtype=np.int64)
    home[is_worker] = population.home[workers]
    home[~is_worker] = zones.home[draw_categorical(np.tile(home_share, (int((~is_worker).sum()), 1)), rng)]

    households = _households(population, group, home, workers, params, rng)
    hh_home, household, car, commuter_car = households
    age_index = {a: i for i, a in enumerate(AGE_GROUPS)}
    age_group = np.array([age_index[PERSON_AGE_GROUP[g]] for g in PERSON_GROUPS])[group]

    bike_share = np.array([params.households.bike_share[g] for g in PERSON_GROUPS])[group]
    has_bike = rng.random(n) < bike_share
    ebike = has_bike & (rng.random(n) < params.residents.ebike_share_2019)
    vot = params.value_of_time
    vot_min = vot.mean_dkk_per_hour * np.exp(vot.log_sd * rng.standard_normal(n) - 0.5 * vot.log_sd**2) / 60.0
    taste_sd = np.array([params.taste_sd.get(m, 0.0) for m in modes])
    taste = rng.standard_normal((n, len(modes))) * taste_sd[None, :]
    has_bike[is_worker] = population.has_bike[workers]
    ebike[is_worker] = population.ebike[workers]
    vot_min[is_worker] = population.vot_dkk_per_min[workers]
    taste[is_worker] = population.taste[workers]
    commuter = np.full(n, -1, dtype=np.int64)
    commuter[is_worker] = workers
    persons = Persons(
        group=group.astype(np.int64), age_group=age_group.astype(np.int64), home=home, household=household,
        commuter=commuter, has_bike=has_bike, ebike=ebike, vot_dkk_per_min=vot_min, taste=taste, base_weight=weight,
    )
    return persons, Households(home=hh_home, car=car, commuter_car=commuter_car)


def _households(
    population: Population, group: np.ndarray, home: np.ndarray, workers: np.ndarray, params: PopulationParameters,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group persons into households zone by zone and give each household its car.

    Adults head households (as many as persons ÷ household size); other adults join a random
    household of their zone, children and youth one whose head is not a pensioner. A household
    with a car-owning commuter has that car; the others have a car with the probability that
    makes the share of households without a car the one of ``population.toml``.
    """
    child_groups = [PERSON_GROUPS.index("child"), PERSON_GROUPS.index("youth")]
    pensioner = PERSON_GROUPS.index("pensioner")
    household = np.full(len(group), -1, dtype=np.int64)
    hh_home: list[int] = []
    head_pensioner: list[bool] = []
    for zone in np.unique(home):
        members = np.flatnonzero(home == zone)
        adults = rng.permutation(members[~np.isin(group[members], child_groups)])
        young = members[np.isin(group[members], child_groups)]
        if len(adults) == 0:
            raise VmobError(f"{POPULATION_FILE}: key 'age_groups': a home zone has children but no adults")
        n_hh = int(np.clip(round(len(members) / params.households.persons_per_household), 1, len(adults)))
        first = len(hh_home)
        heads = adults[:n_hh]
        household[heads] = first + np.arange(n_hh)
        rest = adults[n_hh:]
        household[rest] = first + rng.integers(0, n_hh, len(rest))
        families = np.flatnonzero(group[heads] != pensioner)
        families = families if len(families) else np.arange(n_hh)
        household[young] = first + families[rng.integers(0, len(families), len(young))]
        hh_home.extend([int(zone)] * n_hh)
        head_pensioner.extend((group[heads] == pensioner).tolist())
    n_hh_total = len(hh_home)
    commuter_car = np.full(n_hh_total, -1, dtype=np.int64)
    worker_rows = np.arange(len(workers))  # workers come first among the persons
    with_car = worker_rows[population.car_available[workers]]
    # Reverse order so that the first car-owning commuter of a household is the one kept.
    commuter_car[household[with_car[::-1]]] = workers[with_car[::-1]]
    has_worker = np.zeros(n_hh_total, dtype=bool)
    has_worker[household[worker_rows]] = True
    car = commuter_car >= 0
    worker_no_car = int((has_worker & ~car).sum())
    free = ~has_worker
    target_no_car = params.households.no_car_share * n_hh_total
    p_no_car = float(np.clip((target_no_car - worker_no_car) / max(int(free.sum()), 1), 0.0, 1.0))
    car[free] = rng.random(int(free.sum())) >= p_no_car
    return np.array(hh_home, dtype=np.int64), household, car, commuter_car


def person_weights(persons: Persons, params: PopulationParameters, year: int) -> np.ndarray:
    """Real residents per agent in ``year``: base weights scaled by the resident population."""
    return persons.base_weight * params.residents.population_in(year) / params.residents.population_in(BASE_YEAR)


def can_drive(persons: Persons, households: Households, population: Population, min_age_group: str) -> np.ndarray:
    """Whether each person may drive the household's car: old enough, and the household has a car.

    A commuter drives only with a car of their own (``Population.car_available``), as in the commute.
    """
    old_enough = persons.age_group >= AGE_GROUPS.index(min_age_group)
    car = households.car[persons.household]
    own = np.where(persons.commuter >= 0, population.car_available[np.maximum(persons.commuter, 0)], True)
    return old_enough & car & own


def household_powertrains(
    households: Households, population: Population, weights: np.ndarray, rng: np.random.Generator,
) -> np.ndarray:
    """Powertrain index of each household's car in the current year (-1 without a car).

    A commuter's car is that commuter's; other households' cars follow the resident commuters'
    car mix of the year (the stream ``persons_fleet``).
    """
    resident_cars = population.resident & (population.powertrain >= 0)
    mix = np.bincount(population.powertrain[resident_cars], weights=weights[resident_cars], minlength=len(POWERTRAINS))
    mix = mix / mix.sum() if mix.sum() > 0 else np.full(len(mix), 1.0 / len(mix))
    drawn = draw_categorical(np.tile(mix, (len(households), 1)), rng)
    from_commuter = population.powertrain[np.maximum(households.commuter_car, 0)]
    powertrain = np.where(households.commuter_car >= 0, from_commuter, drawn)
    return np.where(households.car, powertrain, -1)
