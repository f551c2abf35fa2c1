"""The dashboard says which changes are not distinguishable from zero for its sample and seeds (model/app/runs.py)."""

from __future__ import annotations

import pandas as pd

from model.app import runs


def _view(car: dict[str, list[float]], co2: dict[str, list[float]], sample_fraction: float = 0.2) -> runs.View:
    """Two scenarios, one value per seed in 2019 and 2030 (2019 equal in both)."""
    rows = []
    for label in car:
        for seed, (share, tonnes) in enumerate(zip(car[label], co2[label], strict=True), start=1):
            for year in (2019, 2030):
                rows.append({"experiment": "page", "scenario": label, "seed": seed, "year": year,
                             "share_car": 0.6 if year == 2019 else share, "share_light_rail": 0.05,
                             "co2_territorial_t": 5000.0 if year == 2019 else tonnes, "co2_resident_t": 3000.0})
    labels = list(car)
    return runs.View(source="test", tables={"summary": pd.DataFrame(rows)}, labels=labels,
                     roles={labels[0]: "baseline", labels[1]: "current"}, residents=1500, sample_fraction=sample_fraction)


def test_a_change_inside_the_seed_noise_is_marked_and_named() -> None:
    view = _view({"reference": [0.60, 0.62, 0.58, 0.61], "lever": [0.61, 0.60, 0.59, 0.62]},
                 {"reference": [4000.0, 4010.0, 3990.0, 4005.0], "lever": [3800.0, 3812.0, 3791.0, 3803.0]})
    changes = runs.change_vs_baseline(view).set_index(["metric", "year"])
    assert changes.at[("car", 2030), "distinguishable"] == "no"
    assert changes.at[("co2", 2030), "distinguishable"] == "yes"
    assert changes.at[("co2", 2030), "ci_low"] < changes.at[("co2", 2030), "mean"] < changes.at[("co2", 2030), "ci_high"] < 0
    note = next(n for n in runs.noise_notes(view) if n.startswith("'lever', 2030"))
    assert note.startswith("'lever', 2030: the change in car share of resident commuters (+")
    assert "not distinguishable from zero with this 20% sample and 4 seeds" in note
    assert "territorial transport co2" not in note.lower()  # its change is distinguishable, so not named
    screen = runs.Screen(view, pd.DataFrame(), runs.change_vs_baseline(view), [], [])
    html = runs.change_html(screen)
    assert "id='chg-current-car-2030' data-value='0.25' class='vmob-not-distinguishable'" in html
    assert "id='chg-current-co2-2030' data-value='-199.75'>" in html
    assert "† not distinguishable from zero with this sample and these seeds" in html


def test_one_seed_has_no_interval_and_compares_with_the_sampling_error() -> None:
    view = _view({"reference": [0.60], "lever": [0.605]}, {"reference": [4000.0], "lever": [3990.0]})
    changes = runs.change_vs_baseline(view)
    assert set(changes["distinguishable"]) == {"one seed"} and changes["ci_low"].isna().all()
    notes = runs.noise_notes(view)
    assert any("'lever', 2030: the change in the car share is within this noise" in n for n in notes)
    assert "One seed: no interval" in runs.change_html(runs.Screen(view, pd.DataFrame(), changes, [], []))


def test_a_scenario_identical_to_its_reference_is_not_distinguishable() -> None:
    same = [0.60, 0.62, 0.58]
    view = _view({"reference": same, "lever": same}, {"reference": [4000.0] * 3, "lever": [4000.0] * 3})
    changes = runs.change_vs_baseline(view)
    assert (changes[changes["year"] == 2030]["distinguishable"] == "no").all()
