"""The planners' dashboard (Solara), as a small package.

- :mod:`model.app.controls`: lever controls generated from the lever classes, presets from
  ``experiments/climate_plan.toml``;
- :mod:`model.app.runs`: runs, results folders, change vs baseline, sample noise, figures and
  messages for the page (no Solara: usable and testable without a browser);
- :mod:`model.app.dashboard`: the Solara page (``solara run model.app.dashboard``).

Importing this package does not import Solara.
"""

#: Environment variable naming the results root the page can open (``vmob dashboard --results``).
RESULTS_ENV = "VMOB_DASHBOARD_RESULTS"
