"""Home zones inside Vallensbæk and the external municipalities commuters travel to or from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator
from pyproj import Transformer

from model.edges import EdgeArrays, farthest_beyond
from model.errors import VmobError
from model.files import StrictModel, load_toml_model
from model.settings import CRS_METRIC, CRS_WGS84, DEFAULT_NETWORK_DIR

DEFAULT_ZONES = DEFAULT_NETWORK_DIR / "zones.toml"
#: A home zone farther than this from any street open to cars and walkers is an input error (m).
MAX_HOME_ZONE_SNAP_M = 1000.0


class _Place(StrictModel):
    """What every zone has: an id, a name and a WGS84 point."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class HomeZone(_Place):
    """A residential and work zone inside the municipality."""

    population_share: float = Field(ge=0, le=1)
    jobs_share: float = Field(ge=0, le=1)
    source: str


class Destination(_Place):
    """An external municipality: a workplace for residents and a home for in-commuters."""

    jobs: float = Field(gt=0)
    jobs_year: int
    employed_residents: float = Field(gt=0)
    source: str


class ZonesFile(StrictModel):
    """The schema of ``zones.toml``."""

    home_zones: list[HomeZone] = Field(min_length=1)
    destinations: list[Destination] = Field(min_length=1)

    @model_validator(mode="after")
    def _shares_and_ids(self) -> ZonesFile:
        for key in ("population_share", "jobs_share"):
            total = sum(getattr(z, key) for z in self.home_zones)
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"home_zones {key} must sum to 1 (they sum to {total:.4f})")
        ids = [z.id for z in self.home_zones] + [d.id for d in self.destinations]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"zone ids must be unique; repeated: {', '.join(duplicates)}")
        return self


@dataclass(frozen=True)
class Zones:
    """All zones in one index: home zones first, then external destinations.

    Attributes
    ----------
    ids, names
        One entry per zone.
    is_home
        True for zones inside the municipality.
    x, y
        Centroids in EPSG:25832 (m).
    population_share, jobs_share
        Shares within the municipality (zero for external zones).
    jobs, employed_residents
        Counts for external zones (zero for home zones).
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    is_home: np.ndarray
    x: np.ndarray
    y: np.ndarray
    population_share: np.ndarray
    jobs_share: np.ndarray
    jobs: np.ndarray
    employed_residents: np.ndarray
    source: str = "zones.toml"

    @property
    def home(self) -> np.ndarray:
        """Indices of the home zones."""
        return np.flatnonzero(self.is_home)

    @property
    def external(self) -> np.ndarray:
        """Indices of the external zones."""
        return np.flatnonzero(~self.is_home)

    def index(self, zone_id: str) -> int:
        """Position of a zone id; a :class:`VmobError` lists the known ids otherwise."""
        try:
            return self.ids.index(zone_id)
        except ValueError:
            raise VmobError(f"unknown zone or destination '{zone_id}' (known: {', '.join(self.ids)})") from None

    def straight_line_km(self) -> np.ndarray:
        """Zone × zone straight-line distance in km."""
        dx = self.x[:, None] - self.x[None, :]
        dy = self.y[:, None] - self.y[None, :]
        return np.hypot(dx, dy) / 1000.0


def load_zones(path: str | Path | None = None) -> Zones:
    """Read and validate ``zones.toml``.

    Parameters
    ----------
    path
        Defaults to the embedded ``networks/vallensbaek/zones.toml``.
    """
    spec = load_toml_model(ZonesFile, Path(path or DEFAULT_ZONES))
    to_metric = Transformer.from_crs(CRS_WGS84, CRS_METRIC, always_xy=True)
    entries = list(spec.home_zones) + list(spec.destinations)
    lon = np.array([e.lon for e in entries])
    lat = np.array([e.lat for e in entries])
    x, y = to_metric.transform(lon, lat)
    n_home = len(spec.home_zones)
    is_home = np.arange(len(entries)) < n_home
    return Zones(
        ids=tuple(e.id for e in entries),
        names=tuple(e.name for e in entries),
        is_home=is_home,
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        population_share=np.array([z.population_share for z in spec.home_zones] + [0.0] * len(spec.destinations)),
        jobs_share=np.array([z.jobs_share for z in spec.home_zones] + [0.0] * len(spec.destinations)),
        jobs=np.array([0.0] * n_home + [d.jobs for d in spec.destinations]),
        employed_residents=np.array([0.0] * n_home + [d.employed_residents for d in spec.destinations]),
        source=str(path or DEFAULT_ZONES),
    )


def check_home_zones_near(zones: Zones, edges: EdgeArrays) -> None:
    """Raise a :class:`VmobError` naming the home zone farthest from the network, if any is too far.

    A home zone is snapped to the nearest node open to cars and walkers; one more than
    :data:`MAX_HOME_ZONE_SNAP_M` away (a wrong coordinate, lat and lon swapped) would put its
    commuters' trips somewhere else. External destinations may lie outside a local network.
    """
    home = zones.home
    _, distance = edges.nearest_node(zones.x[home], zones.y[home], edges.drive & edges.walk)
    worst = farthest_beyond(distance, MAX_HOME_ZONE_SNAP_M)
    if worst is not None:
        raise VmobError(
            f"{zones.source}: home zone '{zones.ids[home[worst]]}' is {distance[worst] / 1000:,.1f} km from the nearest "
            f"street open to cars and walkers (at most {MAX_HOME_ZONE_SNAP_M / 1000:g} km); check its lat and lon"
        )
