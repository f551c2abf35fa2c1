"""Project-wide constants and default locations, documented in one place."""

from pathlib import Path

#: Metric CRS for every length and area: ETRS89 / UTM zone 32N, the Danish standard.
CRS_METRIC = "EPSG:25832"
#: Geographic CRS at the edges (OSM input, web maps).
CRS_WGS84 = "EPSG:4326"

#: Repository root (the package is installed in editable mode by the Makefile).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: The embedded default network, transit lines and zones.
DEFAULT_NETWORK_DIR = PROJECT_ROOT / "networks" / "vallensbaek"
#: Where downloaded OSM networks are cached as GraphML.
NETWORK_CACHE_DIR = PROJECT_ROOT / "networks" / "cache"
#: Behavioural and technical parameter files (population, choice, fleet, emissions).
PARAMETERS_DIR = PROJECT_ROOT / "experiments" / "parameters"
#: Calibration targets and calibrated constants.
CALIBRATION_DIR = PROJECT_ROOT / "experiments" / "calibration"
#: Default output folder.
RESULTS_DIR = PROJECT_ROOT / "results"

#: First simulated year: the climate plan's baseline year.
BASE_YEAR = 2019

#: The day of the year whose network and timetable stand for the whole year: a lever
#: counts in a year if it has started by then.
REFERENCE_MONTH_DAY = (7, 1)
