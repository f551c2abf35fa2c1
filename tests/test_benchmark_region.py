"""The regional benchmark's inputs (benchmarks/synthetic_region.py): a valid zone system and the persons asked for."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from synthetic_network import extent
from synthetic_region import HOME_SHARE, INCOMMUTER_SHARE, region_overrides, write_zones

from model.parameters import load_parameters
from model.zones import load_zones


def test_the_zone_system_has_the_zones_asked_for_inside_the_lattice(tmp_path):
    zones = load_zones(write_zones(tmp_path / "zones.toml", 600))
    assert len(zones.ids) == 600 and len(set(zones.ids)) == 600
    assert zones.is_home.sum() == round(HOME_SHARE * 600)
    x0, x1, y0, y1 = extent()
    assert np.all((zones.x > x0) & (zones.x < x1) & (zones.y > y0) & (zones.y < y1))
    # Home zones form the centre, external zones the ring around it.
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    radius = np.hypot(zones.x - cx, zones.y - cy)
    assert radius[zones.is_home].max() <= radius[~zones.is_home].max()
    assert np.median(radius[zones.is_home]) < np.median(radius[~zones.is_home])
    assert np.all(zones.jobs[~zones.is_home] >= 5_000)


@pytest.mark.parametrize("persons", [100_000, 1_000_000])
def test_the_scaled_parameters_give_the_persons_asked_for(persons):
    params = load_parameters(region_overrides(persons)).population
    residents = params.residents.population_in(2019) * params.residents.commuters_per_resident
    assert residents == pytest.approx((1 - INCOMMUTER_SHARE) * persons)
    incommuters = params.jobs.count_in(2019) - residents * params.gravity.target_local_share
    assert residents + incommuters == pytest.approx(persons)
