"""Tiny OSM XML networks written by the tests, read through the same osmnx pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

LAT0, LON0 = 55.620, 12.360
DLAT, DLON = 0.004, 0.007  # about 445 m north-south and 440 m east-west


def grid_node_id(row: int, col: int) -> int:
    return 1000 + 10 * row + col


def tiny_network_xml(size: int = 5, ring_lanes: int = 4) -> str:
    """A ``size`` × ``size`` street grid with a motorway, a ring road and a cycle path.

    Row 0 is the south edge. Column 2 is "Søndre Ringvej" (primary, ``ring_lanes``
    lanes, 60 km/h); row 2 is "Vejlegårdsvej" (secondary, 4 lanes, 50 km/h); the
    other grid lines are residential streets. A two-way pair of motorway ways
    ("Køge Bugt Motorvejen", 110 km/h, 3 lanes each) runs south of the grid and
    connects to the ring road's south end by two links. A cycleway runs diagonally
    from the south-west corner to the centre.
    """
    nodes: dict[int, tuple[float, float]] = {}
    for row in range(size):
        for col in range(size):
            nodes[grid_node_id(row, col)] = (LAT0 + row * DLAT, LON0 + col * DLON)
    south = LAT0 - DLAT
    motorway_east = [2000 + c for c in range(size)]
    motorway_west = [2100 + c for c in range(size)]
    for c in range(size):
        nodes[2000 + c] = (south, LON0 + c * DLON)
        nodes[2100 + c] = (south - 0.0003, LON0 + c * DLON)
    ways: list[tuple[list[int], dict[str, str]]] = []
    for row in range(size):
        refs = [grid_node_id(row, c) for c in range(size)]
        if row == 2:
            tags = {"highway": "secondary", "name": "Vejlegårdsvej", "lanes": "4", "maxspeed": "50", "cycleway:right": "track"}
        else:
            tags = {"highway": "residential", "name": f"Row Street {row}", "maxspeed": "50"}
        ways.append((refs, tags))
    for col in range(size):
        refs = [grid_node_id(r, col) for r in range(size)]
        if col == 2:
            tags = {"highway": "primary", "name": "Søndre Ringvej", "ref": "O3", "lanes": str(ring_lanes), "maxspeed": "60"}
        else:
            tags = {"highway": "residential", "name": f"Column Street {col}"}
        ways.append((refs, tags))
    motorway_tags = {"highway": "motorway", "name": "Køge Bugt Motorvejen", "ref": "E20", "lanes": "3", "maxspeed": "110", "oneway": "yes"}
    ways.append((motorway_east, motorway_tags))
    ways.append((list(reversed(motorway_west)), motorway_tags))
    link = {"highway": "motorway_link", "oneway": "yes", "maxspeed": "60"}
    ways.append(([2002, grid_node_id(0, 2)], link))
    ways.append(([grid_node_id(0, 2), 2102], link))
    ways.append(([grid_node_id(0, 0), grid_node_id(1, 1), grid_node_id(2, 2)], {"highway": "cycleway", "name": "Diagonal Cycle Path"}))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="vmob-tests">']
    for node_id, (lat, lon) in nodes.items():
        lines.append(f'  <node id="{node_id}" version="1" lat="{lat:.6f}" lon="{lon:.6f}"/>')
    for way_id, (refs, tags) in enumerate(ways, start=5000):
        lines.append(f'  <way id="{way_id}" version="1">')
        lines.extend(f'    <nd ref="{ref}"/>' for ref in refs)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def tiny_boundary_geojson(size: int = 5) -> dict:
    """A boundary covering the west half of the grid (columns 0–2 and a bit)."""
    west, east = LON0 - 0.002, LON0 + 2.5 * DLON
    south, north = LAT0 - 2 * DLAT, LAT0 + (size - 1) * DLAT + 0.002
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"name": "Test kommune"}, "geometry": {"type": "Polygon", "coordinates": [ring]}}],
    }


def write_tiny_network(folder: Path, size: int = 5, ring_lanes: int = 4) -> tuple[Path, Path]:
    """Write ``tiny.osm`` and ``tiny.boundary.geojson`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    osm = folder / "tiny.osm"
    osm.write_text(tiny_network_xml(size, ring_lanes), encoding="utf-8")
    boundary = folder / "tiny.boundary.geojson"
    boundary.write_text(json.dumps(tiny_boundary_geojson(size)), encoding="utf-8")
    return osm, boundary


def grid_point(row: float, col: float) -> tuple[float, float]:
    """(lat, lon) of a grid position; fractional positions lie between nodes."""
    return LAT0 + row * DLAT, LON0 + col * DLON


def tiny_zones_toml() -> str:
    """Two home zones in the west half, two external zones in the east."""
    entries = []
    homes = [("home_sw", (0.2, 0.3), 0.6, 0.3), ("home_nw", (3.8, 0.8), 0.4, 0.7)]
    for zone_id, (r, c), pop, jobs in homes:
        lat, lon = grid_point(r, c)
        entries.append(
            f'[[home_zones]]\nid = "{zone_id}"\nname = "{zone_id}"\nlat = {lat}\nlon = {lon}\n'
            f'population_share = {pop}\njobs_share = {jobs}\nsource = "test"\n'
        )
    externals = [("city_ne", (4.0, 4.0), 50000, 30000), ("town_se", (0.0, 4.0), 10000, 20000)]
    for zone_id, (r, c), jobs, workers in externals:
        lat, lon = grid_point(r, c)
        entries.append(
            f'[[destinations]]\nid = "{zone_id}"\nname = "{zone_id}"\nlat = {lat}\nlon = {lon}\n'
            f'jobs = {jobs}\njobs_year = 2016\nemployed_residents = {workers}\nsource = "test"\n'
        )
    return "\n".join(entries)


def tiny_transit_toml() -> str:
    """An S-train line up column 4 and a light rail up the ring road (column 2), opening 2025-10-26."""
    stations = {
        "South St.": grid_point(0, 4), "Middle St.": grid_point(2, 4), "North St.": grid_point(4, 4),
        "Ring South": grid_point(0, 2), "Ring Middle": grid_point(2, 2), "Ring North": grid_point(4, 2),
        "West St.": grid_point(0.1, 0.2),
    }
    text = []
    for name, (lat, lon) in stations.items():
        text.append(f'[stations."{name}"]\nlat = {lat}\nlon = {lon}\nsource = "test"\n')
    text.append(
        '[[lines]]\nid = "A"\nname = "S-train A"\nmode = "s_train"\nsource = "test"\n'
        'stops = ["West St.", "South St.", "Middle St.", "North St."]\nminutes = [3.0, 2.0, 2.0]\nskip = ["South St."]\n'
        '[[lines.services]]\nstart = 1972-10-01\nheadway_peak_min = 10.0\nheadway_offpeak_min = 10.0\n'
    )
    text.append(
        '[[lines]]\nid = "L"\nname = "Light rail"\nmode = "light_rail"\nsource = "test"\n'
        'stops = ["Ring South", "Ring Middle", "Ring North"]\nminutes = [2.0, 2.0]\n'
        '[[lines.services]]\nstart = 2025-10-26\nheadway_peak_min = 10.0\nheadway_offpeak_min = 10.0\n'
        '[[lines.services]]\nstart = 2026-08-22\nheadway_peak_min = 5.0\nheadway_offpeak_min = 10.0\n'
    )
    return "\n".join(text)


def write_tiny_inputs(folder: Path) -> dict[str, Path]:
    """Write the tiny network, boundary, zones and transit files; return their paths."""
    osm, boundary = write_tiny_network(folder)
    zones = folder / "zones.toml"
    zones.write_text(tiny_zones_toml(), encoding="utf-8")
    transit = folder / "transit.toml"
    transit.write_text(tiny_transit_toml(), encoding="utf-8")
    counts = folder / "traffic_counts.toml"
    counts.write_text(tiny_counts_toml(), encoding="utf-8")
    return {"osm": osm, "boundary": boundary, "zones": zones, "transit": transit, "counts": counts}


def tiny_counts_toml(aadt: float = 60000.0) -> str:
    """Through traffic on the tiny network's motorway."""
    return (
        f'[[counts]]\nroad = "Køge Bugt Motorvejen"\naadt = {aadt}\nyear = 2019\ntruck_share = 0.1\nsource = "test"\n'
    )


def write_pbf(xml: Path, pbf: Path) -> Path:
    """Convert an OSM XML file to ``.osm.pbf`` with osmium's writer."""
    import osmium

    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(xml)):
            writer.add(obj)
    return pbf


def extract_network_xml() -> str:
    """The tiny grid with what a real extract brings.

    Roads beyond the buffer, ways that are no streets, a footway island, a bend with interstitial
    nodes and a one-way street into a dead end:

    - "North Road" leaves grid node (4, 0) northwards: one node 0.2 km past the boundary
      (inside a 1 km buffer), then one 2.3 km farther (outside it).
    - "Far Road": three nodes 9 km north, all outside.
    - a ``highway=proposed`` way and a pedestrian area (``area=yes``): no streets.
    - "Island Path": a footway between two nodes inside the boundary, connected to nothing.
    - "Bend Street": from grid (3, 0) to (4, 1) through two bend nodes.
    - "Pocket Street": one-way from grid (1, 0) west to a dead end, from where only a footway
      leads back to grid (0, 0): cars can enter and not leave.
    """
    north_lat, north_lon = grid_point(4, 0)
    nodes = {
        9001: (north_lat + 0.006, north_lon), 9002: (north_lat + 0.0267, north_lon),
        9101: (LAT0 + 0.08, LON0), 9102: (LAT0 + 0.08, LON0 + 0.005), 9103: (LAT0 + 0.08, LON0 + 0.010),
        9201: grid_point(1.5, 0.5), 9202: grid_point(1.6, 0.8),
        9301: grid_point(3.3, 0.3), 9302: grid_point(3.7, 0.6),
        9401: grid_point(1, -0.5), 9402: grid_point(1, -0.8),
    }
    ways = [
        ([grid_node_id(4, 0), 9001, 9002], {"highway": "residential", "name": "North Road"}),
        ([9101, 9102, 9103], {"highway": "residential", "name": "Far Road"}),
        ([grid_node_id(1, 1), grid_node_id(2, 1)], {"highway": "proposed", "name": "Planned Road"}),
        ([grid_node_id(3, 3), grid_node_id(3, 4), grid_node_id(4, 4), grid_node_id(3, 3)],
         {"highway": "pedestrian", "area": "yes", "name": "Square"}),
        ([9201, 9202], {"highway": "footway", "name": "Island Path"}),
        ([grid_node_id(3, 0), 9301, 9302, grid_node_id(4, 1)], {"highway": "residential", "name": "Bend Street"}),
        ([grid_node_id(1, 0), 9401, 9402], {"highway": "residential", "name": "Pocket Street", "oneway": "yes"}),
        ([9402, grid_node_id(0, 0)], {"highway": "footway", "name": "Pocket Path"}),
    ]
    lines = [f'  <node id="{i}" version="1" lat="{lat:.6f}" lon="{lon:.6f}"/>' for i, (lat, lon) in nodes.items()]
    for way_id, (refs, tags) in enumerate(ways, start=8000):
        lines.append(f'  <way id="{way_id}" version="1">')
        lines.extend(f'    <nd ref="{ref}"/>' for ref in refs)
        lines.extend(f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
        lines.append("  </way>")
    base = tiny_network_xml()
    head, _ = base.rsplit("</osm>", 1)
    # osmium wants nodes before ways: put the new nodes right after the grid's.
    first_way = head.index("  <way ")
    node_lines, way_lines = lines[: len(nodes)], lines[len(nodes):]
    return head[:first_way] + "\n".join(node_lines) + "\n" + head[first_way:] + "\n".join(way_lines) + "\n</osm>\n"
