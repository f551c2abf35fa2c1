"""Destinations of residents' trips by purpose, and the choice among them by accessibility.

``networks/vallensbaek/destinations.toml`` gives each purpose a size per zone (schools,
shops, leisure, jobs). A person chooses a zone with probability
``∝ size × exp(theta × logsum)``, where the logsum is the mode-choice logsum (the expected
maximum utility over the modes the person has, from :mod:`model.choice`) of the trip from home.
Nearer and better-served places are therefore preferred, and a lever that improves a mode makes
the places it serves more attractive. ``theta`` is calibrated per purpose at start-up so that the
mean trip by road has the length of ``purposes.toml``.

The logsums are computed for segments, not persons: home zone × car available × bicycle
(none, bike, e-bike), one row per segment and destination zone, so a year's destination choice
costs a few thousand utility rows whatever the population.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, create_model

from model.errors import VmobError
from model.files import StrictModel, load_toml_model
from model.settings import DEFAULT_NETWORK_DIR
from model.vocabulary import GENERATED_PURPOSES
from model.zones import Zones

#: The embedded destinations file.
DEFAULT_DESTINATIONS = DEFAULT_NETWORK_DIR / "destinations.toml"
#: Bicycle classes of a segment: none, a regular bike, an e-bike.
BIKE_CLASSES = 3


class PurposeDestinations(StrictModel):
    """One purpose's table of ``destinations.toml``: sizes of the home zones and a rule for the external ones."""

    source: str = Field(min_length=1)
    external_column: Literal["employed_residents", "jobs"]
    external_factor: Annotated[float, Field(ge=0)]
    local: dict[str, Annotated[float, Field(ge=0)]]


#: The schema of ``destinations.toml``: one table per purpose of ``GENERATED_PURPOSES``.
DestinationsFile = create_model(  # type: ignore[call-overload]
    "DestinationsFile", __base__=StrictModel, **{p: (PurposeDestinations, ...) for p in GENERATED_PURPOSES},
)


def destinations_path_for(zones_path: str | Path | None) -> tuple[Path, bool]:
    """The destinations file that goes with a zones file, and whether it names their home zones.

    The embedded zones use the embedded file. Other zones use ``destinations.toml`` beside their
    zones file; without one, the embedded file's rules are used and its home-zone sizes are
    spread over the other zones' home zones (``spread=True``, see :func:`load_destination_sizes`).
    """
    if zones_path is None:
        return DEFAULT_DESTINATIONS, False
    beside = Path(zones_path).with_name("destinations.toml")
    if beside.is_file():
        return beside, False
    return DEFAULT_DESTINATIONS, Path(zones_path).resolve() != (DEFAULT_NETWORK_DIR / "zones.toml").resolve()


def load_destination_sizes(zones: Zones, path: str | Path | None = None, spread: bool = False) -> np.ndarray:
    """Size of every zone for every purpose, ``len(GENERATED_PURPOSES) × zones``.

    Parameters
    ----------
    zones
        The run's zones.
    path
        The destinations file; the embedded one by default.
    spread
        Spread each purpose's total home-zone size over ``zones``' home zones by their population
        share (business: jobs share) instead of reading it zone by zone: for zones that have no
        destinations file of their own.

    Raises
    ------
    VmobError
        One line naming the file and key: a purpose missing, a size below zero, a zone that is
        not a home zone of ``zones.toml``, or a purpose whose sizes are all zero (no destinations).
    """
    path = Path(path or DEFAULT_DESTINATIONS)
    spec = load_toml_model(DestinationsFile, path)
    sizes = np.zeros((len(GENERATED_PURPOSES), len(zones.ids)))
    home_ids = {zones.ids[z]: z for z in zones.home}
    for k, purpose in enumerate(GENERATED_PURPOSES):
        table: PurposeDestinations = getattr(spec, purpose)
        external = getattr(zones, table.external_column) * table.external_factor
        sizes[k] = np.where(zones.is_home, 0.0, external)
        if spread:
            share = zones.jobs_share if purpose == "business" else zones.population_share
            sizes[k] += np.where(zones.is_home, share * sum(table.local.values()), 0.0)
            continue
        for zone_id, size in table.local.items():
            if zone_id not in home_ids:
                raise VmobError(
                    f"{path}: key '{purpose}.local.{zone_id}': not a home zone of {zones.source} "
                    f"(home zones: {', '.join(home_ids)})"
                )
            sizes[k, home_ids[zone_id]] = size
    for k, purpose in enumerate(GENERATED_PURPOSES):
        if not sizes[k].sum() > 0:
            raise VmobError(f"{path}: key '{purpose}': the purpose has no destinations (every size is zero)")
    return sizes


@dataclass(frozen=True)
class Segments:
    """Traveller segments of the destination choice: home zone × car × bicycle class.

    Attributes
    ----------
    home, car, bike
        Per segment: home zone index, car available (bool) and bicycle class (0 none, 1 bike, 2 e-bike).
    """

    home: np.ndarray
    car: np.ndarray
    bike: np.ndarray

    @classmethod
    def of(cls, zones: Zones) -> Segments:
        """Every combination for the home zones."""
        h, c, b = np.meshgrid(zones.home, [False, True], np.arange(BIKE_CLASSES), indexing="ij")
        return cls(h.ravel(), c.ravel(), b.ravel())

    def index(self, zones: Zones, home: np.ndarray, car: np.ndarray, bike: np.ndarray) -> np.ndarray:
        """Segment index of each traveller."""
        position = np.full(len(zones.ids), -1, dtype=np.int64)
        position[zones.home] = np.arange(len(zones.home))
        return (position[home] * 2 + car.astype(np.int64)) * BIKE_CLASSES + bike

    def __len__(self) -> int:
        return len(self.home)


def destination_probabilities(logsum: np.ndarray, size: np.ndarray, theta: float, allowed: np.ndarray) -> np.ndarray:
    """``P(zone | segment) ∝ size × exp(theta × logsum)`` over the allowed zones.

    Parameters
    ----------
    logsum
        Segments × zones mode-choice logsums.
    size
        Size per zone.
    theta
        Weight of the logsum (> 0: better-served and nearer places attract more).
    allowed
        Zones that may be chosen (boolean per zone).
    """
    ok = allowed & (size > 0)
    logits = np.where(ok[None, :], np.log(np.where(ok, size, 1.0))[None, :] + theta * logsum, -np.inf)
    top = logits.max(axis=1, keepdims=True)
    p = np.exp(logits - top)
    return p / p.sum(axis=1, keepdims=True)


def calibrate_theta(
    mean_km: Callable[[float], float], target_km: float, low: float, high: float, where: str,
) -> float:
    """The logsum weight whose destinations give the target mean trip length (bisection).

    ``mean_km(theta)`` must fall as ``theta`` grows (a stronger pull of accessibility keeps
    trips shorter). A target the range cannot reach on this network (a small test network, a
    target for another region) takes the nearest bound, with a warning naming ``where``.
    """
    f_low, f_high = mean_km(low), mean_km(high)
    if not f_high <= target_km <= f_low:
        bound = low if target_km > f_low else high
        warnings.warn(
            f"{where}: target_mean_km = {target_km} cannot be reached on this network with theta in [{low}, {high}] "
            f"(mean trip {f_high:.2f}–{f_low:.2f} km); theta = {bound} is used",
            stacklevel=2,
        )
        return bound
    for _ in range(50):
        mid = 0.5 * (low + high)
        if mean_km(mid) > target_km:
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)
