"""Residents' trips other than commuting: generation, destination and mode choice by purpose.

Every resident (:mod:`model.persons`) makes trips of each purpose of
:data:`model.vocabulary.GENERATED_PURPOSES` at the rate of their person group
(``purposes.toml``, trips per average day). Each year, for every (person, purpose) row, a
destination is drawn with the mode-choice logsum (:mod:`model.destinations`; pupils and students
keep their school from year to year) and then a mode
with the same utilities as commuting (:func:`model.choice.utilities`,
:func:`model.choice.probabilities`), with the purpose's constants and value of time. There is no
per-person loop: a year is a few array operations per purpose.

Who drives: a person of driving age whose household has a car (a commuter only with a car of
their own). Younger persons' car trips are lifts; a parent drives them, which makes the
``escort`` vehicle trips. So a household without a car makes no car-driver trips, and children
never drive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np

from model.choice import choice_structure, expected_utility, probabilities, trip_distance_km, utilities, vehicle_columns
from model.destinations import Segments, calibrate_theta, destination_probabilities
from model.parameters import ChoiceParameters, ModelParameters
from model.persons import Households, Persons, can_drive, household_powertrains, person_weights
from model.population import Population, draw_categorical
from model.random_streams import RandomStreams
from model.settings import BASE_YEAR
from model.skims import Skims
from model.vocabulary import AGE_GROUPS, GENERATED_PURPOSES, PERSON_GROUPS, PURPOSES, Mode
from model.zones import Zones

PURPOSES_FILE = "purposes.toml"


@dataclass(frozen=True)
class TripRows:
    """One row per (person, purpose) with a trip rate above zero.

    Attributes
    ----------
    person
        Index into :class:`model.persons.Persons`.
    purpose
        Index into :data:`model.vocabulary.GENERATED_PURPOSES`.
    rate
        One-way trips per average day.
    """

    person: np.ndarray
    purpose: np.ndarray
    rate: np.ndarray


@dataclass(frozen=True)
class TripState:
    """A year's trips: one entry per trip row.

    Attributes
    ----------
    purpose
        Index into :data:`model.vocabulary.PURPOSES` of the person's trips.
    home, dest
        Zone indices.
    mode
        Column of the chosen mode (in the model's mode order).
    persons
        Real residents the row stands for.
    trips_per_day
        Real one-way person trips per average day.
    distance_km
        One-way distance by the chosen mode.
    car_distance_km
        One-way road distance (for the vehicle-km of car trips).
    vehicle_trips_per_day
        Car trips a driver makes for this row per average day: the person's own (car mode,
        may drive) or a parent's (escort of a child's car trip); 0 otherwise.
    vehicle_purpose
        Index into :data:`model.vocabulary.PURPOSES` of those vehicle trips.
    powertrain
        Powertrain index of the household's car (-1 without a car).
    driver
        Whether the person may drive (for the checks: never true under the driving age).
    """

    purpose: np.ndarray
    home: np.ndarray
    dest: np.ndarray
    mode: np.ndarray
    persons: np.ndarray
    trips_per_day: np.ndarray
    distance_km: np.ndarray
    car_distance_km: np.ndarray
    vehicle_trips_per_day: np.ndarray
    vehicle_purpose: np.ndarray
    powertrain: np.ndarray
    driver: np.ndarray


def trip_rows(persons: Persons, params: ModelParameters) -> TripRows:
    """The (person, purpose) rows with a rate above zero, in purpose order."""
    person, purpose, rate = [], [], []
    for k, name in enumerate(GENERATED_PURPOSES):
        by_group = np.array([params.purposes.rates[g].get(name, 0.0) for g in PERSON_GROUPS])
        r = by_group[persons.group]
        chosen = np.flatnonzero(r > 0)
        person.append(chosen)
        purpose.append(np.full(len(chosen), k))
        rate.append(r[chosen])
    return TripRows(np.concatenate(person), np.concatenate(purpose), np.concatenate(rate))


def purpose_choice(params: ModelParameters, purpose: str) -> ChoiceParameters:
    """The commute's choice parameters with the purpose's constants added."""
    base = params.choice
    offsets = params.purposes.choice[purpose].constants
    constants = {m: base.constants[m] + offsets.get(m, 0.0) for m in base.modes}
    return base.model_copy(update={"constants": constants})


def logsums(
    segments: Segments, skims: Skims, zones: Zones, choice: ChoiceParameters, vot_dkk_per_min: float,
    bike_speed_ratio: float, parking: Mapping[str, float],
) -> np.ndarray:
    """Segments × zones mode-choice logsum (expected maximum utility) of the trip from home."""
    n_seg, n_zones = len(segments), len(zones.ids)
    rows = n_seg * n_zones
    n_modes = len(choice.modes)
    car = np.repeat(segments.car, n_zones)
    bike = np.repeat(segments.bike, n_zones)
    pop = Population(
        resident=np.ones(rows, dtype=bool), home=np.repeat(segments.home, n_zones), work=np.tile(np.arange(n_zones), n_seg),
        car_available=car, powertrain=np.where(car, 0, -1), car_age=np.zeros(rows, dtype=np.int64),
        has_bike=bike > 0, ebike=bike == 2, vot_dkk_per_min=np.full(rows, vot_dkk_per_min),
        taste=np.zeros((rows, n_modes)), mode=np.full(rows, -1, dtype=np.int64), base_weight=np.ones(rows),
    )
    V, available = utilities(pop, skims, zones, choice, bike_speed_ratio, habit=False, parking_dkk_per_trip=parking)
    return expected_utility(V, available, choice_structure(choice)).reshape(n_seg, n_zones)


class TripModel:
    """Residents' non-commute trips of a run: rows built once, destinations and modes drawn yearly.

    Parameters
    ----------
    persons, households
        All residents (:func:`model.persons.synthesize_persons`).
    population
        The commuters (their cars and e-bikes are the workers').
    zones
        Zones.
    params
        Model parameters (``purposes``, ``choice``, ``population``).
    sizes
        Destination sizes, purposes × zones (:func:`model.destinations.load_destination_sizes`).
    modes
        The model's modes, in column order.
    skims
        Level of service for calibrating the destination choice (the base year's free flow).
    bike_speed_ratio
        Regular bike speed ÷ e-bike speed.
    parking
        Parking charges by destination zone id.
    """

    def __init__(
        self, persons: Persons, households: Households, population: Population, zones: Zones, params: ModelParameters,
        sizes: np.ndarray, modes: tuple[Mode, ...], skims: Skims, bike_speed_ratio: float, parking: Mapping[str, float],
    ) -> None:
        self.persons, self.households, self.population = persons, households, population
        self.zones, self.params, self.sizes, self.modes = zones, params, sizes, modes
        self.ratio = bike_speed_ratio
        self.rows = trip_rows(persons, params)
        self.segments = Segments.of(zones)
        self.choice = {p: purpose_choice(params, p) for p in GENERATED_PURPOSES}
        self.car_column = vehicle_columns(modes)
        inside_groups = {p: [PERSON_GROUPS.index(g) for g in params.purposes.choice[p].inside_only] for p in GENERATED_PURPOSES}
        self.inside_only = np.zeros(len(self.rows.person), dtype=bool)
        for k, p in enumerate(GENERATED_PURPOSES):
            self.inside_only |= (self.rows.purpose == k) & np.isin(persons.group[self.rows.person], inside_groups[p])
        self.young = persons.age_group < AGE_GROUPS.index(params.purposes.min_driving_age_group)
        self.theta = self._calibrate(skims, parking)
        self.last_dest: np.ndarray | None = None  # last year's destinations (pupils keep their schools)
        self.last_year: int | None = None

    # ------------------------------------------------------------------ pieces

    def _vot(self, purpose: str) -> float:
        return self.params.population.value_of_time.mean_dkk_per_hour / 60.0 * self.params.purposes.choice[purpose].value_of_time_factor

    def trip_car(self) -> tuple[np.ndarray, np.ndarray]:
        """Per person: may drive, and has a car for a trip (driving or, if young, a lift)."""
        driver = can_drive(self.persons, self.households, self.population, self.params.purposes.min_driving_age_group)
        lift = self.young & self.households.car[self.persons.household]
        return driver, driver | lift

    def _segment_of_rows(self, car_for_trip: np.ndarray) -> np.ndarray:
        p = self.persons
        person = self.rows.person
        bike = np.where(p.has_bike, np.where(p.ebike, 2, 1), 0)[person]
        return self.segments.index(self.zones, p.home[person], car_for_trip[person], bike)

    def destination_probabilities(self, k: int, skims: Skims, parking: Mapping[str, float], theta: float) -> tuple[np.ndarray, np.ndarray]:
        """Segments × zones destination probabilities of purpose ``k``: all zones, and home zones only."""
        purpose = GENERATED_PURPOSES[k]
        ls = logsums(self.segments, skims, self.zones, self.choice[purpose], self._vot(purpose), self.ratio, parking)
        everywhere = np.ones(len(self.zones.ids), dtype=bool)
        return (
            destination_probabilities(ls, self.sizes[k], theta, everywhere),
            destination_probabilities(ls, self.sizes[k], theta, self.zones.is_home),
        )

    def _calibrate(self, skims: Skims, parking: Mapping[str, float]) -> dict[str, float]:
        """Per purpose, the logsum weight that gives the target mean trip length by road."""
        _, car_for_trip = self.trip_car()
        segment = self._segment_of_rows(car_for_trip)
        weight = self.rows.rate * self.persons.base_weight[self.rows.person]
        km = skims.car_dist_km[self.segments.home]
        theta = {}
        for k, purpose in enumerate(GENERATED_PURPOSES):
            spec = self.params.purposes.choice[purpose]
            ls = logsums(self.segments, skims, self.zones, self.choice[purpose], self._vot(purpose), self.ratio, parking)
            rows = self.rows.purpose == k
            w_all = np.bincount(segment[rows & ~self.inside_only], weights=weight[rows & ~self.inside_only], minlength=len(self.segments))
            w_in = np.bincount(segment[rows & self.inside_only], weights=weight[rows & self.inside_only], minlength=len(self.segments))
            mean_km = partial(self._mean_km, ls=ls, k=k, w_all=w_all, w_in=w_in, km=km)
            theta[purpose] = calibrate_theta(
                mean_km, spec.target_mean_km, spec.logsum_min, spec.logsum_max, f"{PURPOSES_FILE}: key 'choice.{purpose}.target_mean_km'",
            )
        return theta

    def _mean_km(self, theta: float, ls: np.ndarray, k: int, w_all: np.ndarray, w_in: np.ndarray, km: np.ndarray) -> float:
        """Mean trip length by road of purpose ``k`` for a logsum weight, weighted by trips per segment."""
        p_all = destination_probabilities(ls, self.sizes[k], theta, np.ones(len(self.zones.ids), dtype=bool))
        p_in = destination_probabilities(ls, self.sizes[k], theta, self.zones.is_home)
        return float((w_all @ (p_all * km).sum(axis=1) + w_in @ (p_in * km).sum(axis=1)) / (w_all.sum() + w_in.sum()))

    # ------------------------------------------------------------------- year

    def update_ebikes(self, year: int, rng: np.random.Generator) -> None:
        """E-bike uptake of the persons who do not commute (commuters follow their own arrays)."""
        p, pop = self.persons, self.population
        growth = self.params.population.residents.ebike_share_growth_per_year
        share = min(self.params.population.residents.ebike_share_2019 + growth * (year - BASE_YEAR), 1.0)
        convert_p = growth / max(1.0 - (share - growth), 1e-9)
        commuter = p.commuter >= 0
        p.ebike |= ~commuter & p.has_bike & ~p.ebike & (rng.random(len(p)) < convert_p)
        p.ebike[commuter] = pop.ebike[p.commuter[commuter]]

    def step(
        self, year: int, skims: Skims, parking: Mapping[str, float], commuter_weights: np.ndarray, streams: RandomStreams,
        choice_probabilities: bool = False,
    ) -> TripState:
        """Draw this year's destinations and modes of every trip row.

        Parameters
        ----------
        year
            The year (weights grow with the resident population).
        skims
            The year's level of service (after the commute's assignment).
        parking
            The run's parking charges.
        commuter_weights
            The commuters' weights this year (for the residents' car mix).
        streams
            The run's random streams: ``persons_ebike``, ``persons_fleet``, ``destinations``,
            ``school_changes``, ``trip_modes``. Pupils and students keep last year's place of
            education unless they change it (``education_change_rate``); other destinations are
            drawn anew each year.
        choice_probabilities
            Keep each row's mode probabilities in :attr:`last_probabilities` (for calibration).
        """
        if year > BASE_YEAR:
            self.update_ebikes(year, streams("persons_ebike", year))
        p, rows = self.persons, self.rows
        weights = person_weights(p, self.params.population, year)
        hh_powertrain = household_powertrains(self.households, self.population, commuter_weights, streams("persons_fleet", year))
        driver, car_for_trip = self.trip_car()
        segment = self._segment_of_rows(car_for_trip)
        dest_rng, mode_rng = streams("destinations", year), streams("trip_modes", year)
        school_rng = streams("school_changes", year)
        dest = np.zeros(len(rows.person), dtype=np.int64)
        mode = np.zeros(len(rows.person), dtype=np.int64)
        self.last_probabilities: list[np.ndarray] = []
        for k, purpose in enumerate(GENERATED_PURPOSES):
            at = np.flatnonzero(rows.purpose == k)
            p_all, p_in = self.destination_probabilities(k, skims, parking, self.theta[purpose])
            probs = np.where(self.inside_only[at, None], p_in[segment[at]], p_all[segment[at]])
            dest[at] = draw_categorical(probs, dest_rng)
            if purpose == "education" and self.last_dest is not None and self.last_year is not None and year > self.last_year:
                moving = school_rng.random(len(at)) < self.params.purposes.education_change_rate
                dest[at] = np.where(moving, dest[at], self.last_dest[at])
            who = rows.person[at]
            factor = self.params.purposes.choice[purpose].value_of_time_factor
            trip_pop = Population(
                resident=np.ones(len(at), dtype=bool), home=p.home[who], work=dest[at], car_available=car_for_trip[who],
                powertrain=np.maximum(hh_powertrain[p.household[who]], 0), car_age=np.zeros(len(at), dtype=np.int64),
                has_bike=p.has_bike[who], ebike=p.ebike[who], vot_dkk_per_min=p.vot_dkk_per_min[who] * factor,
                taste=p.taste[who], mode=np.full(len(at), -1, dtype=np.int64), base_weight=weights[who],
            )
            V, available = utilities(
                trip_pop, skims, self.zones, self.choice[purpose], self.ratio, habit=False, parking_dkk_per_trip=parking,
            )
            P = probabilities(V, available, choice_structure(self.choice[purpose]))
            if choice_probabilities:
                self.last_probabilities.append(P)
            mode[at] = draw_categorical(P, mode_rng)
        self.last_dest, self.last_year = dest, year
        return self._state(weights, hh_powertrain, driver, dest, mode, skims)

    def _state(
        self, weights: np.ndarray, hh_powertrain: np.ndarray, driver: np.ndarray, dest: np.ndarray, mode: np.ndarray, skims: Skims,
    ) -> TripState:
        p, rows, spec = self.persons, self.rows, self.params.purposes
        who = rows.person
        home = p.home[who]
        chosen = Population(
            resident=np.ones(len(who), dtype=bool), home=home, work=dest, car_available=driver[who],
            powertrain=np.zeros(len(who), dtype=np.int64), car_age=np.zeros(len(who), dtype=np.int64),
            has_bike=p.has_bike[who], ebike=p.ebike[who], vot_dkk_per_min=p.vot_dkk_per_min[who],
            taste=p.taste[who], mode=mode, base_weight=weights[who],
        )
        distance = trip_distance_km(chosen, skims, self.modes)
        persons = weights[who]
        trips = persons * rows.rate
        by_car = np.isin(mode, self.car_column)
        powertrain = hh_powertrain[p.household[who]]
        occupancy = np.array([spec.choice[g].car_occupancy for g in GENERATED_PURPOSES])[rows.purpose]
        own = by_car & driver[who] & (powertrain >= 0)
        escort = by_car & self.young[who] & (powertrain >= 0)
        vehicle_trips = np.where(own, trips / occupancy, 0.0) + np.where(
            escort, trips * spec.escort_vehicle_trips_per_child_car_trip / spec.car_occupancy, 0.0
        )
        purpose_index = np.array([PURPOSES.index(g) for g in GENERATED_PURPOSES])[rows.purpose]
        return TripState(
            purpose=purpose_index, home=home, dest=dest, mode=mode, persons=persons, trips_per_day=trips,
            distance_km=distance, car_distance_km=skims.car_dist_km[home, dest], vehicle_trips_per_day=vehicle_trips,
            vehicle_purpose=np.where(escort, PURPOSES.index("escort"), purpose_index), powertrain=powertrain,
            driver=driver[who] & ~self.young[who],
        )
