"""A synthetic OSM-like road and cycle network of a given size, written as OSM XML or PBF.

A perturbed lattice over the embedded zones' and stations' extent (plus a margin), so
that every zone and station snaps to it, with realistic OSM highway classes: motorway
corridors (110 km/h, 3 lanes), primary roads every 12th line (60 km/h, 2 lanes, cycle
tracks), secondary every 4th (50 km/h, cycle lanes) and residential streets in between
(no ``maxspeed`` on a third of them, so osmnx's imputation runs; 3 % of their segments
removed to break the regularity). Ways span up to 8 segments, as OSM ways do.

The file goes through the project's own pipeline (``model.network.load_network``:
``osmnx.graph_from_xml`` for ``.osm``; the extract reader of ``model.extract`` for ``.osm.pbf``,
written with osmium's writer), exactly as a real extract. Simplifications: motorways cross the
lattice at grade (no ramps or bridges), the lattice is uniform rather than dense in towns and
sparse between them, and every node is a junction (a real extract has many shape nodes that
simplification removes).

    .venv/bin/python benchmarks/synthetic_network.py --nodes 50000 --out /tmp/synthetic.osm
    .venv/bin/python benchmarks/synthetic_network.py --nodes 100000 --out /tmp/synthetic.osm.pbf
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.settings import CRS_METRIC, CRS_WGS84

#: Metres added around the zones' and stations' extent.
MARGIN_M = 2_000.0
#: Segments per OSM way.
WAY_SEGMENTS = 8
#: Share of residential segments left out.
DROP_SHARE = 0.03

CLASSES = {
    "motorway": {"highway": "motorway", "maxspeed": "110", "lanes": "3", "oneway": "no"},
    "primary": {"highway": "primary", "maxspeed": "60", "lanes": "2", "cycleway": "track"},
    "secondary": {"highway": "secondary", "maxspeed": "50", "lanes": "1", "cycleway": "lane"},
    "residential": {"highway": "residential", "maxspeed": "50"},
    "residential_untagged": {"highway": "residential"},
}
#: Lines named after the roads with traffic counts (networks/vallensbaek/traffic_counts.toml),
#: so that through traffic loads the synthetic network too.
COUNTED_NAMES = {("row", 30): "Køge Bugt Motorvejen", ("col", 30): "Holbækmotorvejen",
                 ("row", 90): "Motorring 4", ("col", 12): "Søndre Ringvej"}


def extent() -> tuple[float, float, float, float]:
    """``x0, x1, y0, y1`` (EPSG:25832) of the embedded zones and stations plus the margin."""
    from model.transit import load_transit
    from model.zones import load_zones

    zones = load_zones()
    transit = load_transit()
    to_metric = Transformer.from_crs(CRS_WGS84, CRS_METRIC, always_xy=True)
    lon = np.array([s.lon for s in transit.stations.values()])
    lat = np.array([s.lat for s in transit.stations.values()])
    sx, sy = to_metric.transform(lon, lat)
    xs = np.concatenate([zones.x, sx])
    ys = np.concatenate([zones.y, sy])
    return xs.min() - MARGIN_M, xs.max() + MARGIN_M, ys.min() - MARGIN_M, ys.max() + MARGIN_M


def line_class(k: int, rng_value: float) -> str:
    """Highway class of lattice line ``k`` (rows and columns alike)."""
    if k % 60 == 30:
        return "motorway"
    if k % 12 == 0:
        return "primary"
    if k % 4 == 0:
        return "secondary"
    return "residential_untagged" if rng_value < 1 / 3 else "residential"


def write_osm(path: Path, nodes: int, seed: int = 0) -> dict[str, float]:
    """Write a lattice of about ``nodes`` nodes (OSM PBF for a ``.pbf`` path, else OSM XML); returns its size figures."""
    if path.name.endswith(".pbf"):
        return write_pbf(path, nodes, seed)
    ids, lat, lon, ways, figures = lattice(nodes, seed)
    out = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6" generator="vmob benchmarks/synthetic_network.py">',
           f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" maxlat="{lat.max():.7f}" maxlon="{lon.max():.7f}"/>']
    out += [f'  <node id="{i}" visible="true" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>'
            for i, la, lo in zip(ids.tolist(), lat.tolist(), lon.tolist(), strict=True)]
    for way_id, (refs, tags) in enumerate(ways, start=1):
        out.append(f'  <way id="{way_id}" visible="true" version="1">')
        out.extend(f'    <nd ref="{r}"/>' for r in refs)
        out.extend(f'    <tag k="{k}" v="{v}"/>' for k, v in tags.items())
        out.append("  </way>")
    out.append("</osm>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return figures


def write_pbf(path: Path, nodes: int, seed: int = 0) -> dict[str, float]:
    """Write the same lattice as :func:`write_osm` as OSM PBF with osmium's writer."""
    import osmium

    ids, lat, lon, ways, figures = lattice(nodes, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # osmium refuses to overwrite
    with osmium.SimpleWriter(str(path)) as writer:
        for i, la, lo in zip(ids.tolist(), lat.tolist(), lon.tolist(), strict=True):
            writer.add_node(osmium.osm.mutable.Node(id=i, location=(lo, la)))
        for way_id, (refs, tags) in enumerate(ways, start=1):
            writer.add_way(osmium.osm.mutable.Way(id=way_id, nodes=refs, tags=tags))
    return figures


def lattice(
    nodes: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[list[int], dict[str, str]]], dict[str, float]]:
    """Node ids, lat, lon, ways ``(node refs, tags)`` and size figures of a lattice of about ``nodes`` nodes."""
    rng = np.random.default_rng(seed)
    x0, x1, y0, y1 = extent()
    spacing = math.sqrt((x1 - x0) * (y1 - y0) / nodes)
    nx_, ny_ = int((x1 - x0) / spacing) + 1, int((y1 - y0) / spacing) + 1
    jj, ii = np.meshgrid(np.arange(nx_), np.arange(ny_))
    x = x0 + jj * spacing + rng.uniform(-0.2, 0.2, jj.shape) * spacing
    y = y0 + ii * spacing + rng.uniform(-0.2, 0.2, ii.shape) * spacing
    lon, lat = Transformer.from_crs(CRS_METRIC, CRS_WGS84, always_xy=True).transform(x.ravel(), y.ravel())
    ids = np.arange(1, nx_ * ny_ + 1).reshape(ny_, nx_)
    ways: list[tuple[list[int], dict[str, str]]] = []

    def emit(refs: list[int], cls: str, name: str) -> None:
        ways.append((refs, {**CLASSES[cls], "name": name}))

    for axis, count, length in (("row", ny_, nx_), ("col", nx_, ny_)):
        for k in range(count):
            cls = line_class(k, rng.random())
            name = COUNTED_NAMES.get((axis, k), f"{cls} {axis} {k}")
            line = ids[k, :] if axis == "row" else ids[:, k]
            keep = np.ones(length - 1, dtype=bool)
            if cls.startswith("residential"):
                keep = rng.random(length - 1) >= DROP_SHARE
            start = 0
            for end in range(1, length):
                if not keep[end - 1]:
                    if end - 1 > start:
                        emit(line[start:end].tolist(), cls, name)
                    start = end
                elif end - start == WAY_SEGMENTS or end == length - 1:
                    emit(line[start:end + 1].tolist(), cls, name)
                    start = end
    figures = {"nodes": nx_ * ny_, "ways": len(ways), "segments": sum(len(refs) - 1 for refs, _ in ways), "spacing_m": spacing}
    return ids.ravel(), np.asarray(lat), np.asarray(lon), ways, figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(write_osm(args.out, args.nodes, args.seed))


if __name__ == "__main__":
    main()
