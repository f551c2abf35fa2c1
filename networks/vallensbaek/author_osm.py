"""Generate ``vallensbaek.osm``, the embedded default network, from the tables below.

Run ``python networks/vallensbaek/author_osm.py`` from the repository root; it rewrites
``networks/vallensbaek/vallensbaek.osm`` (the committed file is exactly this script's output).
Only the standard library is used.

Every coordinate is (lat, lon) in WGS84.  ``F`` marks a figure taken from the facts sheet
(``/work/shared/facts/geography.md``, cited in the ``source:facts`` tag); everything else is a
hand estimate (U) placed to be topologically right (which road meets which) rather than
geometrically exact.  See README.md in this folder for the full provenance table.

Motorways are drawn as one centreline here and emitted as two oneway carriageways offset
15 m to the right of each direction of travel.  Exits and motorway interchanges become
``motorway_link`` ramps that leave/join the carriageways 250 m before/after the junction;
crossing roads never share a node with a motorway carriageway (they cross on ``bridge=yes``
segments).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from xml.sax.saxutils import quoteattr

OUT = Path(__file__).with_name("vallensbaek.osm")

LAT0 = 55.63  # reference latitude for the local metric approximation
M_PER_DEG_LAT = 111_195.0
M_PER_DEG_LON = 111_195.0 * math.cos(math.radians(LAT0))

CARRIAGEWAY_OFFSET_M = 15.0
RAMP_DISTANCE_M = 250.0
DENSIFY_M = {"motorway": 500.0, "local": 250.0}
# Schematic corridors outside Vallensbæk: sinusoidal bends (see Builder.way).  The factor is an
# assumption chosen so that car/bike routes come out at roughly 1.2-1.4 x straight line (README table).
MEANDER_FACTOR = 1.20
MEANDER_MIN_M = 450.0
MEANDER_HALF_WAVE_M = 700.0
MEANDER_STEP_M = 175.0

# Municipal boundary: the outer ring of boundary.geojson in this folder (its source is in the file's
# properties). Used only to keep the schematic meander of the corridors outside Vallensbæk.
BOUNDARY: list[tuple[float, float]] = [
    tuple(xy) for xy in json.loads(OUT.with_name("boundary.geojson").read_text(encoding="utf-8"))
    ["features"][0]["geometry"]["coordinates"][0][0]
]


def inside_boundary(p: tuple[float, float]) -> bool:
    """Ray-casting point-in-polygon test for (lat, lon) against the boundary's outer ring."""
    x, y = p[1], p[0]
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(BOUNDARY):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside

# --------------------------------------------------------------------------------------
# Named points.  Comment tags say where each one comes from.
# --------------------------------------------------------------------------------------
P: dict[str, tuple[float, float]] = {
    # --- rail stations, geography.md §1a (R / R-sec), used to anchor forecourt nodes ---
    "st_vallensbaek": (55.623306, 12.386754),
    "st_brondby_strand": (55.621069, 12.421133),
    "st_ishoj": (55.613349, 12.357901),
    "st_avedore": (55.625783, 12.456323),
    "st_friheden": (55.629102, 12.482126),
    "st_amarken": (55.639827, 12.499902),
    "st_kbh_syd": (55.652303, 12.517284),
    "st_albertslund": (55.658276, 12.354578),
    "st_glostrup": (55.662917, 12.397220),
    "st_brondbyoster": (55.665104, 12.441745),
    "st_taastrup": (55.652500, 12.301940),
    "st_hoje_taastrup": (55.648610, 12.269170),
    "st_valby": (55.663807, 12.513952),
    "st_kbh_h": (55.672825, 12.564592),
    "st_norreport": (55.683300, 12.571762),
    "st_hvidovre": (55.664437, 12.474516),
    "st_rodovre": (55.664694, 12.459454),
    "st_hundige": (55.597629, 12.333282),
}

# Motorway centrelines (ordered; 'fwd' = the listed order).  Junction points geography.md §3a (U).
KBM = [  # Køge Bugt Motorvejen, SW (Køge) -> NE (Copenhagen); fwd = towards Copenhagen
    ("kbm_koge", (55.4830, 12.1800)),  # U: south end near Køge (MK Køge Vest: continues as Vestmotorvejen, below; Sydmotorvejen not modelled)
    ("kbm_solrod", (55.5300, 12.2150)),  # U
    ("kbm_greve_s", (55.5650, 12.2620)),  # U
    ("kbm_x27", (55.5930, 12.2980)),  # U: exit 27 Greve Nord
    ("kbm_mk_ishoj", (55.6190, 12.3400)),  # F §3a MK Ishøj (U)
    ("kbm_x26", (55.6220, 12.3620)),  # F §3a exit 26 (U)
    ("kbm_mid_vall", (55.6262, 12.3800)),  # U: passes ~450 m north of Vallensbæk St.
    ("kbm_x25", (55.6290, 12.3955)),  # F §3a exit 25 (U; lat moved 5e-4 south)
    ("kbm_brondby", (55.6287, 12.4300)),  # U
    ("kbm_mk_avedore", (55.6290, 12.4620)),  # F §3a MK Avedøre (U); M3/E20 not modelled
    ("kbm_friheden", (55.6302, 12.4800)),  # U
    ("kbm_amarken", (55.6375, 12.4950)),  # U
    ("kbm_sydhavn", (55.6440, 12.5060)),  # U
    ("kbm_end", (55.6500, 12.5150)),  # U: motorway ends at Sjællandsbroen by København Syd
]
HBM = [  # Holbækmotorvejen, E (Valby) -> W (Høje Taastrup); fwd = westbound
    ("hbm_end_e", (55.6528, 12.4861)),  # de.wiki infobox start 55°39'10"N 12°29'10"E (R-sec)
    ("hbm_mk_brondby", (55.6530, 12.4530)),  # F §3a MK Brøndby (U); M3 not modelled
    ("hbm_x2", (55.6520, 12.4030)),  # F §3a exit 2 (U)
    ("hbm_x3", (55.6480, 12.3780)),  # F §3a exit 3 (U)
    ("hbm_mk_vall", (55.6440, 12.3480)),  # F §3a MK Vallensbæk (U)
    ("hbm_mk_taastrup", (55.6440, 12.2900)),  # U: 4 km shared with O4 (wegenwiki)
    ("hbm_x6", (55.6430, 12.2700)),  # U: exit 6 Høje Taastrup C
    # Long-distance extension (U alignment): the motorway continues west past Hedehusene and south of
    # Roskilde towards Holbæk; modelled up to a schematic end on Ringstedvej south of Roskilde St.
    ("hbm_hedehusene", (55.6420, 12.2050)),  # U
    ("hbm_roskilde_o", (55.6330, 12.1350)),  # U: Roskilde Ø
    ("hbm_roskilde", (55.6255, 12.0880)),  # U: schematic end (motorway continues to Holbæk, not modelled)
]
M4S = [  # Motorring 4 "Vallensbækgrenen", MK Ishøj -> MK Vallensbæk; fwd = northbound
    ("m4s_s", (55.6222, 12.3408)),  # U: branch starts ~350 m north of KBM
    ("m4s_ishoj", (55.6285, 12.3420)),  # U
    ("m4s_mid", (55.6360, 12.3430)),  # U: west edge of Vallensbæk
    ("m4s_n", (55.6412, 12.3465)),  # U: branch ends ~300 m south of Holbækmotorvejen
]
M4N = [  # Motorring 4, MK Taastrup -> Ballerup; fwd = northbound
    ("m4n_s", (55.6470, 12.2990)),  # U
    ("m4n_roskildevej", (55.6610, 12.3180)),  # U
    ("m4n_herstedvester", (55.6850, 12.3280)),  # U
    ("m4n_end", (55.7150, 12.3420)),  # U: motorway ends at Ballerup
]
# --- Long-distance corridors (destinations Roskilde, Hillerød, Tårnby/Kastrup, Ringsted) ---
VM = [  # Vestmotorvejen (E20, M20) from MK Køge Vest to Ringsted; fwd = westbound
    # nl.wiki Vestmotorvejen (R-sec): Køge -> Korsør, joins Køge Bugt Motorvejen at Køge; exits 33 Vemmedrup,
    # 34 Borup, 35 Ringsted Øst, 36 Ringsted Nord.  Coordinates U.
    ("vm_mk_koge_vest", (55.4805, 12.1740)),  # U: ~400 m SW of the KBM south end
    ("vm_x33", (55.4720, 12.0700)),  # U: exit 33 Vemmedrup
    ("vm_x34", (55.4850, 11.9650)),  # U: exit 34 Borup (motorway passes south of Borup)
    ("vm_x35", (55.4600, 11.8350)),  # U: exit 35 Ringsted Øst; schematic end (continues to Korsør, not modelled)
]
AMB = [  # Amagermotorvejen + Øresundsmotorvejen (E20) from MK Avedøre to Copenhagen Airport; fwd = eastbound
    # de.wiki Amagermotorvejen / Øresundsmotorvejen (R-sec): MK Avedøre - (22) Gl. Køge Landevej - (21) Avedøre
    # Holme - Kalveboderne bridges - (20) København C (Sjællandsbroen) - (19) Ørestad - (18) Tårnby -
    # (17) Lufthavn V - (16) Lufthavn Ø - (15) Lufthavn.  Only the airport end is joined to local roads here.
    ("amb_start", (55.6262, 12.4665)),  # U: ~400 m SE of MK Avedøre
    ("amb_x21", (55.6110, 12.4800)),  # U: exit 21 Avedøre Holme (not modelled); the motorway swings south round Avedøre Holme
    ("amb_sorterenden", (55.6060, 12.5050)),  # U: Sorterendebroen
    ("amb_kalvebod", (55.6120, 12.5350)),  # U: Kalveboderne crossing
    ("amb_x20", (55.6235, 12.5600)),  # U: exit 20 København C, start of Øresundsmotorvejen
    ("amb_x19", (55.6270, 12.5800)),  # U: exit 19 Ørestad (not modelled)
    ("amb_x18", (55.6255, 12.6050)),  # U: exit 18 Tårnby (not modelled)
    ("amb_x17", (55.6205, 12.6300)),  # U: exit 17 Lufthavn V; schematic end at the airport
]
HMW = [  # Hillerødmotorvejen (route 16) from Gladsaxe Trafikplads to Hillerød; fwd = northbound
    ("hmw_start", (55.7405, 12.4660)),  # U: by Gladsaxe Trafikplads (Ring 3 / Motorring 3 junction)
    ("hmw_bagsvaerd", (55.7650, 12.4400)),  # U
    ("hmw_farum", (55.8080, 12.3850)),  # U
    ("hmw_allerod", (55.8620, 12.3520)),  # U
    ("hmw_hillerod_s", (55.9050, 12.3260)),  # U: schematic end south of Hillerød
]


# --------------------------------------------------------------------------------------
# Small geometry helpers (local equirectangular metres; fine at this scale)
# --------------------------------------------------------------------------------------
def to_xy(p: tuple[float, float]) -> tuple[float, float]:
    """Local metres east and north of (LAT0, 12.4°E) of a (lat, lon) point."""
    return ((p[1] - 12.4) * M_PER_DEG_LON, (p[0] - LAT0) * M_PER_DEG_LAT)


def to_ll(x: float, y: float) -> tuple[float, float]:
    """The (lat, lon) of a point given in local metres (the inverse of :func:`to_xy`)."""
    return (LAT0 + y / M_PER_DEG_LAT, 12.4 + x / M_PER_DEG_LON)


def dist(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance in metres between two (lat, lon) points."""
    ax, ay = to_xy(a)
    bx, by = to_xy(b)
    return math.hypot(bx - ax, by - ay)


# --------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------
class Builder:
    """Collects the nodes and ways of the network and numbers them in order of creation."""

    def __init__(self) -> None:
        self.nodes: dict[int, tuple[float, float]] = {}
        self.named: dict[str, int] = {}
        self.node_comment: dict[int, str] = {}
        self.ways: list[tuple[int, list[int], dict[str, str], str]] = []
        self.next_node = 1
        self.next_way = 1

    # nodes --------------------------------------------------------------------------
    def add_node(self, ll: tuple[float, float], comment: str = "") -> int:
        """Add a node at ``ll`` (rounded to 7 decimals) and return its id."""
        nid = self.next_node
        self.next_node += 1
        self.nodes[nid] = (round(ll[0], 7), round(ll[1], 7))
        if comment:
            self.node_comment[nid] = comment
        return nid

    def n(self, key: str, ll: tuple[float, float] | None = None, comment: str = "") -> int:
        """Named node: created on first use (with ``ll``), reused afterwards."""
        if key in self.named:
            return self.named[key]
        if ll is None:
            ll = P[key]
        nid = self.add_node(ll, comment or key)
        self.named[key] = nid
        return nid

    # ways ---------------------------------------------------------------------------
    def way(self, refs: list[int], tags: dict[str, str], comment: str = "", step: float | None = None,
            meander: bool = False) -> int:
        """Add a way through ``refs``, inserting intermediate nodes every ``step`` m.

        With ``meander``, segments outside the municipal boundary that are longer than
        ``MEANDER_MIN_M`` get a sinusoidal sideways offset (zero at both ends) so that the
        schematic corridors are about ``MEANDER_FACTOR`` times longer than a straight line,
        standing in for the bends and grid detours of the real streets.
        """
        step = step or DENSIFY_M["local"]
        out = [refs[0]]
        for a, b in itertools.pairwise(refs):
            pa, pb = self.nodes[a], self.nodes[b]
            L = dist(pa, pb)
            mid = ((pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2)
            wiggle = meander and L >= MEANDER_MIN_M and not inside_boundary(mid)
            if wiggle:
                halves = max(1, round(L / MEANDER_HALF_WAVE_M))
                h = L / halves
                amp = 2 * h / math.pi * math.sqrt(MEANDER_FACTOR - 1)
                k = max(int(L // MEANDER_STEP_M), 4 * halves - 1)
                (ax, ay), (bx, by) = to_xy(pa), to_xy(pb)
                ux, uy = (bx - ax) / L, (by - ay) / L
                sign = 1 if (a + b) % 2 else -1
            else:
                k = int(L // step)
            for i in range(1, k + 1):
                t = i / (k + 1)
                if wiggle:
                    off = sign * amp * math.sin(math.pi * halves * t)
                    out.append(self.add_node(to_ll(ax + t * (bx - ax) - uy * off, ay + t * (by - ay) + ux * off)))
                else:
                    out.append(self.add_node((pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1]))))
            out.append(b)
        wid = self.next_way
        self.next_way += 1
        self.ways.append((wid, out, dict(tags), comment))
        return wid

    def road(self, points: list, tags: dict[str, str], comment: str = "", bridges: tuple = ()) -> None:
        """A road through named points.  ``points`` items are keys or (key, (lat, lon)).

        Segments whose start index is in ``bridges`` are split off as ``bridge=yes`` ways.
        """
        ids = [self.n(p) if isinstance(p, str) else self.n(p[0], p[1]) for p in points]
        start = 0
        wig = tags["highway"] != "motorway"
        for i in sorted(bridges):
            if i > start:
                self.way(ids[start : i + 1], tags, comment, meander=wig)
            self.way(ids[i : i + 2], {**tags, "bridge": "yes", "layer": "1"}, comment + " (bridge)")
            start = i + 1
        if start < len(ids) - 1:
            self.way(ids[start:], tags, comment, meander=wig)


B = Builder()


# --------------------------------------------------------------------------------------
# Motorways
# --------------------------------------------------------------------------------------
class Motorway:
    """Centreline -> two carriageways with nodes at chosen arc lengths."""

    def __init__(self, key: str, pts: list, segments: list[tuple[str, dict[str, str]]], events: list[float]):
        self.key = key
        self.names = [k for k, _ in pts]
        self.ll = [p for _, p in pts]
        self.s = [0.0]
        for a, b in itertools.pairwise(self.ll):
            self.s.append(self.s[-1] + dist(a, b))
        self.segments = segments  # (until_vertex_key, tags) in fwd order
        self.events = sorted(set(round(e, 1) for e in events) | set(round(x, 1) for x in self.s))
        self.fwd: dict[float, int] = {}
        self.bwd: dict[float, int] = {}

    def at(self, key: str) -> float:
        """Arc length (m) of the named centreline vertex ``key``."""
        return self.s[self.names.index(key)]

    def point(self, s: float) -> tuple[tuple[float, float], tuple[float, float]]:
        """Centreline (x, y) and unit forward direction at arc length s."""
        for i in range(len(self.s) - 1):
            if s <= self.s[i + 1] + 1e-6 or i == len(self.s) - 2:
                a, b = to_xy(self.ll[i]), to_xy(self.ll[i + 1])
                L = self.s[i + 1] - self.s[i]
                t = (s - self.s[i]) / L
                d = ((b[0] - a[0]) / L, (b[1] - a[1]) / L)
                return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])), d
        raise ValueError(s)

    def build(self) -> None:
        """Create both carriageways' nodes at every event and densified point, then their ways by tag segment."""
        samples: list[float] = []
        for a, b in itertools.pairwise(self.events):
            samples.append(a)
            k = int((b - a) // DENSIFY_M["motorway"])
            samples += [a + (b - a) * i / (k + 1) for i in range(1, k + 1)]
        samples.append(self.events[-1])
        for s in samples:
            (x, y), (dx, dy) = self.point(s)
            rx, ry = dy, -dx  # right-hand normal of fwd travel
            self.fwd[round(s, 1)] = B.add_node(to_ll(x + rx * CARRIAGEWAY_OFFSET_M, y + ry * CARRIAGEWAY_OFFSET_M))
            self.bwd[round(s, 1)] = B.add_node(to_ll(x - rx * CARRIAGEWAY_OFFSET_M, y - ry * CARRIAGEWAY_OFFSET_M))
        keys = sorted(self.fwd)
        # split into ways by tag segment
        bounds = [0.0] + [self.at(k) for k, _ in self.segments]
        for (until, tags), lo in zip(self.segments, bounds, strict=False):  # bounds has one more: the last end
            hi = self.at(until)
            part = [s for s in keys if lo - 0.05 <= s <= hi + 0.05]
            B.way([self.fwd[s] for s in part], {**tags, "oneway": "yes"},
                  f"{tags['name']} {self.key} fwd {self.names[self.s.index(lo)] if lo in self.s else lo}->{until}",
                  step=1e9)
            B.way([self.bwd[s] for s in reversed(part)], {**tags, "oneway": "yes"},
                  f"{tags['name']} {self.key} bwd {until}->...", step=1e9)

    def node(self, s: float, carriageway: str) -> int:
        """Id of the carriageway node (``'fwd'`` or ``'bwd'``) at arc length ``s``."""
        table = self.fwd if carriageway == "fwd" else self.bwd
        return table[round(s, 1)]

    def side(self, s: float, ll: tuple[float, float]) -> str:
        """'fwd' if ``ll`` lies on the right of fwd travel (the fwd carriageway side)."""
        (x, y), (dx, dy) = self.point(s)
        px, py = to_xy(ll)
        cross = dx * (py - y) - dy * (px - x)
        return "fwd" if cross < 0 else "bwd"


def link_tags(ref: str, lanes: str = "1", maxspeed: str = "60") -> dict[str, str]:
    """OSM tags of a one-lane-by-default motorway ramp with reference ``ref``."""
    return {"highway": "motorway_link", "oneway": "yes", "lanes": lanes, "maxspeed": maxspeed,
            "ref": ref, "bicycle": "no", "foot": "no"}


def mw_tags(name: str, ref: str, lanes: int, maxspeed: int, src: str, **extra: str) -> dict[str, str]:
    """OSM tags of a motorway carriageway, with the facts citation ``src`` and any extra tags."""
    return {"highway": "motorway", "name": name, "ref": ref, "lanes": str(lanes), "maxspeed": str(maxspeed),
            "bicycle": "no", "foot": "no", "source:facts": src, **extra}


D = RAMP_DISTANCE_M
SRC_KBM = "geography.md §3a KBM exit sequence (R), lanes (R 3+3 Avedøre-Vallensbæk S; 5+5 MK Ishøj-Greve N; U elsewhere), 110 km/h (U), junction coordinates (U)"
SRC_HBM = "geography.md §3a Holbækmotorvejen exit sequence (R), 3+3 lanes (R), 110 km/h (R; 90 km/h trial 2020 not in baseline), junction coordinates (U)"
SRC_M4 = "geography.md §3a Motorring 4 Vallensbækgrenen 110 km/h, 2+2 lanes (R, scmnews ≈2016); alignment (U)"

KBM_REF = "E20;E47;E55"
kbm = Motorway("KBM", KBM, [
    ("kbm_greve_s", mw_tags("Køge Bugt Motorvejen", KBM_REF, 3, 110, SRC_KBM, **{"ref:dk": "M10"})),
    ("kbm_x27", mw_tags("Køge Bugt Motorvejen", KBM_REF, 4, 110, SRC_KBM, **{"ref:dk": "M10"})),
    ("kbm_mk_ishoj", mw_tags("Køge Bugt Motorvejen", KBM_REF, 5, 110, SRC_KBM, **{"ref:dk": "M10"})),
    ("kbm_mk_avedore", mw_tags("Køge Bugt Motorvejen", KBM_REF, 3, 110, SRC_KBM, **{"ref:dk": "M10"})),
    # north of MK Avedøre the E-roads leave eastwards on Amagermotorvejen (not modelled)
    ("kbm_end", mw_tags("Køge Bugt Motorvejen", "M10", 3, 90, SRC_KBM + "; 90 km/h inner section is an assumption (U)")),
], [])
hbm = Motorway("HBM", HBM, [
    ("hbm_mk_vall", mw_tags("Holbækmotorvejen", "21", 3, 110, SRC_HBM, **{"ref:dk": "M11"})),
    ("hbm_x6", mw_tags("Holbækmotorvejen", "21;O4", 3, 110, SRC_HBM + "; shared with O4 MK Vallensbæk-MK Taastrup (wegenwiki Motorring 4, R)", **{"ref:dk": "M11"})),
], [])
m4s = Motorway("M4S", M4S, [
    ("m4s_n", mw_tags("Motorring 4", "O4", 2, 110, SRC_M4, **{"ref:dk": "M6", "alt_name": "Vallensbækgrenen"})),
], [])
m4n = Motorway("M4N", M4N, [
    ("m4n_end", mw_tags("Motorring 4", "O4", 3, 110, "wegenwiki Motorring 4 (2x3 lanes MK Taastrup-Ballerup since 2013, https://www.wegenwiki.nl/Motorring_4_(Denemarken)); 110 km/h (U); alignment (U)", **{"ref:dk": "M4"})),
], [])
# Holbækmotorvejen west of exit 6: added as a further tag segment of the same centreline
hbm.segments.append(("hbm_roskilde", mw_tags(
    "Holbækmotorvejen", "21", 3, 110,
    SRC_HBM + "; 3+3 lanes to Roskilde V/Svogerslev (geography.md §3a R); extension Høje Taastrup - Roskilde: alignment and 110 km/h U; schematic end south of Roskilde (continues to Holbæk)",
    **{"ref:dk": "M11"})))
SRC_LONG = "long-distance tail for the workplace model (zones.toml destinations Roskilde, Hillerød, Tårnby, Ringsted)"
vm = Motorway("VM", VM, [
    ("vm_x35", mw_tags("Vestmotorvejen", "E20", 3, 110,
                       "nl.wiki Vestmotorvejen (R-sec: Køge-Korsør, E20/M20, exits 33-36) and de.wiki Køge Bugt Motorvejen (R: ends at MK Køge Vest); lanes, speed and alignment U; " + SRC_LONG,
                       **{"ref:dk": "M20"})),
], [])
amb = Motorway("AMB", AMB, [
    ("amb_x20", mw_tags("Amagermotorvejen", "E20", 3, 110,
                        "de.wiki/da.wiki Amagermotorvejen (R-sec: MK Avedøre - exit 20 København C, 6 lanes since 1994); speed and alignment U; " + SRC_LONG)),
    ("amb_x17", mw_tags("Øresundsmotorvejen", "E20", 2, 110,
                        "de.wiki Øresundsmotorvejen (R-sec: exits 19 Ørestad, 18 Tårnby, 17-15 Lufthavn; serves Copenhagen Airport); lanes, speed and alignment U; " + SRC_LONG)),
], [])
hmw = Motorway("HMW", HMW, [
    ("hmw_hillerod_s", mw_tags("Hillerødmotorvejen", "16", 2, 110,
                               "Hillerødmotorvejen from Gladsaxe Trafikplads (Motorring 3 / Ring 3) towards Hillerød: name, ref, lanes, speed and alignment U (recalled; not in the facts); " + SRC_LONG)),
], [])

# ramp positions (arc lengths) must exist as carriageway nodes
for mw, keys in ((kbm, ["kbm_x27", "kbm_mk_ishoj", "kbm_x26", "kbm_x25", "kbm_mk_avedore"]),
                 (hbm, ["hbm_mk_vall", "hbm_mk_taastrup", "hbm_x3", "hbm_x2", "hbm_x6"])):
    ev = []
    for k in keys:
        ev += [mw.at(k) - D, mw.at(k) + D]
    mw.events = sorted(set(mw.events) | set(round(e, 1) for e in ev))
for mw in (kbm, hbm, m4s, m4n, vm, amb, hmw):
    mw.build()


def exit_ramps(mw: Motorway, key: str, node_a: int, node_b: int, ref: str) -> None:
    """Diamond exit: ramps between both carriageways and the local road nodes on either side."""
    s = mw.at(key)
    side_a = mw.side(s, B.nodes[node_a])
    side_of = {side_a: node_a, ("bwd" if side_a == "fwd" else "fwd"): node_b}
    # fwd carriageway: diverge at s-D, merge at s+D; bwd: diverge at s+D, merge at s-D
    B.way([mw.node(s - D, "fwd"), side_of["fwd"]], link_tags(ref), f"{key} fwd off-ramp", step=1e9)
    B.way([side_of["fwd"], mw.node(s + D, "fwd")], link_tags(ref), f"{key} fwd on-ramp", step=1e9)
    B.way([mw.node(s + D, "bwd"), side_of["bwd"]], link_tags(ref), f"{key} bwd off-ramp", step=1e9)
    B.way([side_of["bwd"], mw.node(s - D, "bwd")], link_tags(ref), f"{key} bwd on-ramp", step=1e9)


def branch_start(main: Motorway, key: str, br: Motorway, ref: str) -> None:
    """A branch motorway whose fwd direction starts at the main road's junction ``key``."""
    s = main.at(key)
    first_f, last_b = br.fwd[min(br.fwd)], br.bwd[min(br.bwd)]
    t = link_tags(ref, "2", "80")
    B.way([main.node(s - D, "fwd"), first_f], t, f"{key} main fwd -> branch", step=1e9)
    B.way([main.node(s + D, "bwd"), first_f], t, f"{key} main bwd -> branch", step=1e9)
    B.way([last_b, main.node(s + D, "fwd")], t, f"{key} branch -> main fwd", step=1e9)
    B.way([last_b, main.node(s - D, "bwd")], t, f"{key} branch -> main bwd", step=1e9)


def branch_end(main: Motorway, key: str, br: Motorway, ref: str) -> None:
    """A branch motorway whose fwd direction ends at the main road's junction ``key``."""
    s = main.at(key)
    last_f, first_b = br.fwd[max(br.fwd)], br.bwd[max(br.bwd)]
    t = link_tags(ref, "2", "80")
    B.way([last_f, main.node(s + D, "fwd")], t, f"{key} branch -> main fwd", step=1e9)
    B.way([last_f, main.node(s - D, "bwd")], t, f"{key} branch -> main bwd", step=1e9)
    B.way([main.node(s - D, "fwd"), first_b], t, f"{key} main fwd -> branch", step=1e9)
    B.way([main.node(s + D, "bwd"), first_b], t, f"{key} main bwd -> branch", step=1e9)


def terminal(mw: Motorway, at_end: bool, local: int, ref: str) -> None:
    """Motorway end: both carriageways join a local road node."""
    t = link_tags(ref, "2", "70")
    if at_end:
        B.way([mw.fwd[max(mw.fwd)], local], t, f"{mw.key} end (fwd out)", step=1e9)
        B.way([local, mw.bwd[max(mw.bwd)]], t, f"{mw.key} end (bwd in)", step=1e9)
    else:
        B.way([mw.bwd[min(mw.bwd)], local], t, f"{mw.key} start (bwd out)", step=1e9)
        B.way([local, mw.fwd[min(mw.fwd)]], t, f"{mw.key} start (fwd in)", step=1e9)


# --------------------------------------------------------------------------------------
# Tag helpers for ordinary roads
# --------------------------------------------------------------------------------------
def rd(hw: str, name: str, lanes: int | None, speed: int, src: str, **extra: str) -> dict[str, str]:
    """OSM tags of an ordinary road of class ``hw`` with the facts citation ``src`` and any extra tags."""
    t = {"highway": hw, "name": name, "maxspeed": str(speed), "source:facts": src}
    if lanes is not None:
        t["lanes"] = str(lanes)
    t.update(extra)
    return t


C77 = {"cycleway": "track", "cycle_network": "Supercykelstier", "cycle_route": "C77 Ishøjruten"}
TRACKS = {"cycleway:both": "track"}
SCHEM = "schematic corridor (U): real road, hand-drawn alignment"

# --------------------------------------------------------------------------------------
# Vallensbæk roads (geography.md §3b)
# --------------------------------------------------------------------------------------
# Key junctions inside Vallensbæk (all U unless noted)
P.update({
    "j_strandvej_ishoj": (55.6165, 12.3680),  # Søndre Ringvej south end at Vallensbæk Strandvej (Ishøj border)
    "j_strandhaven": (55.6211, 12.3766),  # F §1b Strandhaven stop (U): Sdr. Ringvej x Vejlegårdsvej/Bækkeskovvej
    "j_station": (55.6240, 12.3880),  # F §1b Vallensbæk Letbane stop (U): Sdr. Ringvej x Vallensbæk Torvevej
    "sr_kbm_s": (55.6268, 12.3925),
    "sr_kbm_n": (55.6312, 12.3972),
    "sr_delta": (55.6330, 12.3978),  # Søndre Ringvej x Delta Park street
    "sr_vallensbaekvej": (55.6425, 12.3985),
    "lr_brondbyvester": (55.6470, 12.3990),  # F §1b Brøndbyvester stop (U)
    "sr_parkalle": (55.6495, 12.4005),
    "sr_hbm_s": (55.6505, 12.4015),
    "sr_hbm_n": (55.6538, 12.4040),
    "lr_kirkebjerg": (55.6570, 12.4030),  # F §1b Kirkebjerg stop (U)
    "sr_sydvestvej": (55.6610, 12.4035),
    "sr_roskildevej": (55.6655, 12.4040),
    "j_delta_park": (55.6295, 12.3905),  # F §1b / §3c Delta Park (U): Vallensbæk Torvevej x Delta Park
    "tv_roundabout": (55.6207, 12.3895),  # Vallensbæk Torvevej x Strandesplanaden roundabout
    "tv_kbm_s": (55.6262, 12.3886),
    "tv_kbm_n": (55.6285, 12.3897),
    "tv_brondbyvej": (55.6345, 12.3880),
    "tv_vallensbaekvej": (55.6440, 12.3840),
    "tv_hbm_s": (55.6464, 12.3805),
    "tv_hbm_n": (55.6497, 12.3768),
    "vv_vejlegaardsvej": (55.6452, 12.3722),
    "vv_horsestien": (55.6456, 12.3660),
    "vv_west": (55.6448, 12.3610),
    "vg_41": (55.6229, 12.3757),  # F §3b Vejlegårdsvej 41 address point (R-sec)
    "vg_kbm_s": (55.6238, 12.3752),
    "vg_kbm_n": (55.6268, 12.3745),
    "z_landsby": (55.6375, 12.3720),  # F §3c Vallensbæk Landsby (U)
    "z_nordmark": (55.6500, 12.3700),  # F §3c Vallensbæk Nordmark centre (U)
    "nm_horsestien": (55.6520, 12.3640),
    "nm_mid": (55.6550, 12.3600),
    "f_albertslund": (55.6575, 12.3560),  # Albertslund St. south forecourt
    "z_strand_vest": (55.6185, 12.3760),
    "z_strand_centre": (55.6230, 12.3850),  # near Stationstorv / town hall (F §3c, U)
    "z_strand_east": (55.6192, 12.3985),
    "vs_bk": (55.6170, 12.3765),  # Vallensbæk Strandvej x Bækkeskovvej
    "vs_tv": (55.6178, 12.3890),
    "vs_east": (55.6183, 12.3985),
    "vs_border": (55.6190, 12.4045),  # Brøndby border
    "se_border": (55.6206, 12.4040),  # Strandesplanaden at Gideonskolen / Brøndby border
    "se_east": (55.6203, 12.3985),
    "brondby_strand_c": (55.6218, 12.4212),  # Brøndby Strand centre by the station
})

SRC_SR = "geography.md §3b Søndre Ringvej (R); §1b Letbane stops on Ring 3 (U coords); lanes=4 U (two per direction, plan narrows 4->2), 60 km/h U"
sr_tags = rd("primary", "Søndre Ringvej", 4, 60, SRC_SR, ref="O3", **TRACKS)
B.road(["j_strandvej_ishoj", "j_strandhaven", "j_station", "sr_kbm_s", "sr_kbm_n", "sr_delta",
        "sr_vallensbaekvej", "lr_brondbyvester", "sr_parkalle", "sr_hbm_s", "sr_hbm_n", "lr_kirkebjerg",
        "sr_sydvestvej", "sr_roskildevej"], sr_tags, "Søndre Ringvej (Ring 3)", bridges=(3, 9))

SRC_TV = "geography.md §3b Vallensbæk Torvevej: 2 lanes, 50 km/h since 2017 (R); alignment U; links to Holbækmotorvejen exit 3 (vesterled-gf.dk/arkiver/4441, R)"
B.road(["tv_roundabout", "j_station", "tv_kbm_s", "tv_kbm_n", "j_delta_park", "tv_brondbyvej",
        "tv_vallensbaekvej", "tv_hbm_s", "tv_hbm_n"],
       rd("secondary", "Vallensbæk Torvevej", 2, 50, SRC_TV, **TRACKS), "Vallensbæk Torvevej", bridges=(2, 7))

B.road(["j_delta_park", ("dp_mid", (55.6318, 12.3945)), "sr_delta"],
       rd("tertiary", "Delta Park", 2, 50, "geography.md §3c Delta Park business area (text R, coordinate U)"),
       "Delta Park street linking Vallensbæk Torvevej and Søndre Ringvej")

SRC_VG = "geography.md §3b Vejlegårdsvej: cycle track on east side (R), address Vejlegårdsvej 41 (R-sec); lanes=4 U (climate plan narrows it), 60 km/h U"
B.road(["j_strandhaven", "vg_41", "vg_kbm_s", "vg_kbm_n", ("vg_mid", (55.6320, 12.3735)), "z_landsby",
        "vv_vejlegaardsvej"],
       rd("secondary", "Vejlegårdsvej", 4, 60, SRC_VG, **{"cycleway:right": "track", "cycleway:right:oneway": "no"}),
       "Vejlegårdsvej, drawn south->north so the east-side track is cycleway:right", bridges=(2,))

SRC_VV = "geography.md §3b Vallensbækvej: 4->2 lanes 2017, 50 km/h, cycle tracks both sides (R); runs along Holbækmotorvejen noise wall (§3a, R); alignment U"
B.road(["sr_vallensbaekvej", ("vv_e", (55.6433, 12.3912)), "tv_vallensbaekvej", "vv_vejlegaardsvej",
        "vv_horsestien", "vv_west"],
       rd("tertiary", "Vallensbækvej", 2, 50, SRC_VV, **TRACKS), "Vallensbækvej")

B.road(["tv_brondbyvej", ("bv_mid", (55.6362, 12.3800)), "z_landsby"],
       rd("tertiary", "Brøndbyvej", 2, 50, "geography.md §3b Brøndbyvej: ≈1,000 veh/day, 50 km/h, '2 minus 1' road (R); alignment U",
          **{"cycleway:both": "lane"}),
       "Brøndbyvej, Vallensbæk Torvevej -> Landsbyen")

B.road(["tv_roundabout", "se_east", "se_border", "brondby_strand_c"],
       rd("tertiary", "Strandesplanaden", 2, 50, "geography.md §3b Strandesplanaden: 4->2 lanes, 50 km/h (R); east of the border into Brøndby Strand (U)", **TRACKS),
       "Strandesplanaden")

SRC_C77 = "geography.md §3b / §6 Supercykelsti Ishøjruten C77 on Vallensbæk Strandvej / Ishøj Strandvej / Gl. Køge Landevej (R); lanes/speed U"
B.road(["j_strandvej_ishoj", "vs_bk", "vs_tv", "vs_east", "vs_border"],
       rd("secondary", "Vallensbæk Strandvej", 2, 50, SRC_C77, **C77), "Vallensbæk Strandvej (C77)")

B.road(["j_strandhaven", "z_strand_vest", "vs_bk"],
       rd("residential", "Bækkeskovvej", 2, 40, "geography.md §1b Strandhaven at the Vejlegårdsvej/Bækkeskovvej junction (R); alignment U"),
       "Bækkeskovvej, residential, Vallensbæk Strand west")
B.road(["z_strand_vest", ("sv_path", (55.6200, 12.3810)), "z_strand_centre"],
       rd("cycleway", "Strandstien (Vallensbæk Strand path)", None, 20, "assumption: residential path network of Vallensbæk Strand (U); name descriptive",
          bicycle="designated", foot="designated"),
       "Path Strand west -> station")
B.road(["j_station", ("stt_100", (55.6236, 12.3862)), "z_strand_centre"],
       rd("residential", "Vallensbæk Stationstorv", 2, 30, "geography.md §3b Vallensbæk Stationstorv 100 town hall next to Vallensbæk St. (R); coordinate U"),
       "Vallensbæk Stationstorv (town hall, station forecourt)")
B.road(["z_strand_centre", ("sc_s", (55.6215, 12.3855)), "vs_tv"],
       rd("residential", "Vallensbæk Strand residential street (schematic)", 2, 40, "assumption: local street grid of Vallensbæk Strand (U)"),
       "residential link, station centre -> coast")
B.road(["tv_roundabout", "vs_tv"],
       rd("tertiary", "Vallensbæk Torvevej", 2, 50, SRC_TV, **TRACKS), "Vallensbæk Torvevej south stub to the coast road (U)")
B.road(["se_east", "z_strand_east", "vs_east"],
       rd("residential", "Vallensbæk Strand east residential street (schematic)", 2, 40, "assumption: local street grid of Vallensbæk Strand east (U)"),
       "residential, Vallensbæk Strand east")

SRC_NM = "geography.md §3c Vallensbæk Nordmark (U) borders Albertslund; Holbækmotorvejen exit 3 'Vallensbæk N / Albertslund S' (§3a R); alignment U"
B.road(["tv_hbm_n", "z_nordmark", "nm_horsestien", "nm_mid", "f_albertslund"],
       rd("tertiary", "Nordmark access road (schematic)", 2, 50, SRC_NM, **TRACKS),
       "Nordmark: exit 3 -> Nordmark -> Albertslund St. (schematic corridor)")
B.road(["vv_horsestien", ("hs_bridge_s", (55.6461, 12.3658)), ("hs_bridge_n", (55.6472, 12.3655)), "nm_horsestien"],
       rd("cycleway", "Horsestien", None, 20, "geography.md §3b Horsestien cycle/foot bridge over Holbækmotorvejen (R); alignment U",
          bicycle="designated", foot="designated"),
       "Horsestien", bridges=(1,))

# --------------------------------------------------------------------------------------
# Corridors outside Vallensbæk (schematic; real names where known)
# --------------------------------------------------------------------------------------
P.update({
    # destinations (geography.md §4a) — exact nodes
    "d_kobenhavn": (55.67611, 12.56833),
    "d_frederiksberg": (55.67937, 12.52373),
    "d_hvidovre": (55.63137, 12.46855),
    "d_brondby": (55.64504, 12.40438),
    "d_glostrup": (55.662917, 12.397220),
    "d_albertslund": (55.68497, 12.35232),
    "d_ishoj": (55.62238, 12.33446),
    "d_hoje_taastrup": (55.66696, 12.25783),
    "d_greve": (55.5836, 12.3003),  # U: Greve St./Greve Midtby instead of the rural DAWA point
    "d_rodovre": (55.68181, 12.44866),
    "d_ballerup": (55.72707, 12.36852),
    "d_herlev": (55.74142, 12.42582),
    "d_lyngby": (55.78319, 12.51127),
    "d_koge": (55.4567, 12.1856),  # U: Køge St./town centre instead of the rural DAWA point
    "d_gladsaxe": (55.73987, 12.47620),
})

# Gammel Køge Landevej (C77) Brøndby Strand -> Hvidovre -> Valby
P.update({
    "gkl_bs_w": (55.6205, 12.4130),
    "gkl_kbm_s": (55.6255, 12.4330), "gkl_kbm_n": (55.6318, 12.4400),
    "gkl_avedore": (55.6312, 12.4560),
    "gkl_friheden": (55.6320, 12.4810),
    "gkl_amarken": (55.6415, 12.4975),
    "folehaven_gkl": (55.6510, 12.5050),
    "toftegaards_plads": (55.6620, 12.5150),
    "folehaven_w": (55.6530, 12.4868),
    "folehaven_e": (55.6512, 12.5170),
})
B.road(["vs_border", "gkl_bs_w", "brondby_strand_c", "gkl_kbm_s", "gkl_kbm_n", "gkl_avedore", "d_hvidovre",
        "gkl_friheden", "gkl_amarken", "folehaven_gkl", "toftegaards_plads"],
       rd("secondary", "Gammel Køge Landevej", 4, 50, SRC_C77 + "; " + SCHEM, ref="151", **C77),
       "Gammel Køge Landevej (C77)", bridges=(3,))
B.road([("av_forecourt", (55.6263, 12.4562)), ("av_br_s", (55.6276, 12.4562)), ("av_br_n", (55.6302, 12.4561)), "gkl_avedore"],
       rd("residential", "Avedøre Stationsvej (schematic)", 2, 40, "forecourt of Avedøre St. (geography.md §1a R-sec); street U"),
       "Avedøre St. access", bridges=(1,))
B.road(["folehaven_w", ("fh_mid", (55.6520, 12.4960)), "folehaven_gkl", "folehaven_e"],
       rd("primary", "Folehaven", 4, 60, "Holbækmotorvejen east end (de.wiki, R-sec) to KBM end by København Syd; " + SCHEM, ref="O2"),
       "Folehaven (Ring 2) linking the motorway ends")
B.road(["folehaven_w", ("vig_mid", (55.6600, 12.4920)), ("vig_roskildevej", (55.6675, 12.4930))],
       rd("secondary", "Vigerslevvej", 4, 50, SCHEM), "Vigerslevvej north to Roskildevej")
B.road(["folehaven_e", ("sydhavnsgade", (55.6600, 12.5420)), ("kalvebod", (55.6690, 12.5650)), "d_kobenhavn"],
       rd("primary", "Sydhavnsgade", 4, 50, SCHEM + "; via Sjællandsbroen/Kalvebod Brygge", **TRACKS),
       "Sjællandsbroen/Sydhavnsgade/Kalvebod Brygge into the City")

# Roskildevej Høje-Taastrup -> Taastrup -> Albertslund -> Glostrup -> Rødovre -> Valby
P.update({
    "rv_ht": (55.6560, 12.2750),
    "rv_taastrup": (55.6538, 12.3020),
    "rv_m4_w": (55.6548, 12.3070), "rv_m4_e": (55.6568, 12.3130),
    "rv_albertslund": (55.6640, 12.3560),
    "rv_glostrup_w": (55.6650, 12.3850),
    "rv_brondbyoster": (55.6668, 12.4420),
    "rv_rodovre": (55.6666, 12.4595),
    "rv_hvidovre": (55.6665, 12.4745),
    "rv_valby": (55.6690, 12.5170),
    "valby_bakke": (55.6705, 12.5245),
    "vb_kbh_w": (55.6725, 12.5450),
    "vb_kbh_h": (55.6737, 12.5640),
})
B.road(["d_hoje_taastrup", "rv_ht", "rv_taastrup", "rv_m4_w", "rv_m4_e", "rv_albertslund", "rv_glostrup_w",
        "sr_roskildevej", "rv_brondbyoster", "rv_rodovre", "rv_hvidovre", "vig_roskildevej", "rv_valby", "valby_bakke"],
       rd("primary", "Roskildevej", 4, 60, SCHEM + "; passes Taastrup, Brøndbyøster, Rødovre, Hvidovre St. (geography.md §1a)", ref="156", **TRACKS),
       "Roskildevej", bridges=(3,))
B.road(["valby_bakke", "vb_kbh_w", "vb_kbh_h", "d_kobenhavn"],
       rd("primary", "Vesterbrogade", 4, 50, SCHEM + "; ends at Rådhuspladsen (geography.md §4a City point R)", **TRACKS),
       "Vesterbrogade into the City")
B.road(["d_kobenhavn", ("norre_voldgade", (55.6800, 12.5700)), ("f_norreport", (55.6828, 12.5712))],
       rd("secondary", "Nørre Voldgade", 4, 50, "Nørreport St. (geography.md §1a R-sec); " + SCHEM, **TRACKS),
       "Nørre Voldgade to Nørreport")
B.road(["toftegaards_plads", "rv_valby"],
       rd("secondary", "Toftegårds Allé", 2, 50, "Valby St. (geography.md §1a); " + SCHEM), "Toftegårds Plads -> Roskildevej")
B.road(["rv_valby", ("sf_mid", (55.6745, 12.5205)), "d_frederiksberg"],
       rd("secondary", "Søndre Fasanvej", 2, 50, "Frederiksberg DAWA point (geography.md §4a R-sec); " + SCHEM, **TRACKS),
       "Søndre Fasanvej to Frederiksberg")

# Park Allé (Brøndby -> Brøndbyøster) and Brøndby centre
B.road(["sr_parkalle", ("pa_s", (55.6508, 12.4100)), ("pa_n", (55.6535, 12.4120)), ("pa_mid", (55.6555, 12.4250)), ("pa_e", (55.6620, 12.4400)), "rv_brondbyoster"],
       rd("secondary", "Park Allé", 4, 60, "geography.md §3b Park Allé meets Søndre Ringvej (R); §6 Park Allé-ruten (R); " + SCHEM, **TRACKS),
       "Park Allé", bridges=(1,))
B.road(["lr_brondbyvester", "d_brondby", ("bv_e", (55.6465, 12.4150)), "pa_s"],
       rd("tertiary", "Brøndbyvestervej", 2, 50, "Brøndby DAWA point (geography.md §4a R-sec); " + SCHEM),
       "Brøndbyvester village road")

# Ring 3 north: Glostrup -> Rødovre Nord -> Herlev -> Gladsaxe -> Lyngby (Letbane alignment, stops U)
P.update({
    "lr_glostrup_hosp": (55.6705, 12.4040),
    "lr_glostrup_nord": (55.6800, 12.4070),
    "lr_glostrup_ejby": (55.6905, 12.4110),
    "lr_rodovre_nord": (55.7020, 12.4180),
    "lr_herlev_syd": (55.7115, 12.4280),
    "lr_herlev": (55.7180, 12.4400),
    "lr_herlev_bymidte": (55.7245, 12.4420),
    "lr_herlev_hosp": (55.7305, 12.4440),
    "lr_dynamovej": (55.7340, 12.4560),
    "lr_gladsaxe_trafikplads": (55.7370, 12.4680),
    "lr_gladsaxevej": (55.7385, 12.4790),
    "lr_gladsaxe_raadhus": (55.7400, 12.4880),
    "lr_buddinge": (55.7465, 12.4935),
    "lr_gammelmosevej": (55.7575, 12.5000),
    "lr_lyngby": (55.7680, 12.5030),
    "lr_lyngby_centrum": (55.7715, 12.5050),
    "lr_fortunbyen": (55.7770, 12.5130),
    "lr_akademivej": (55.7815, 12.5160),
    "lr_anker_engelunds": (55.7860, 12.5210),
    "lr_raevehojvej": (55.7905, 12.5235),
    "lr_lundtofte": (55.7960, 12.5250),
    "lr_glostrup": (55.6620, 12.3985),  # F §1b Glostrup Letbane stub (U)
})
SRC_R3N = "Ring 3 / Letbane alignment; stop order geography.md §1b (R) and http://6063le.testserver.nu/se-visionerne/linje-og-stationer/ (R); coordinates U"
B.road(["sr_roskildevej", "lr_glostrup_hosp", "lr_glostrup_nord", "lr_glostrup_ejby", "lr_rodovre_nord"],
       rd("primary", "Nordre Ringvej", 4, 60, SRC_R3N, ref="O3", **TRACKS), "Nordre Ringvej (Ring 3, Glostrup/Rødovre)")
B.road(["lr_rodovre_nord", "lr_herlev_syd", "lr_herlev", "lr_herlev_bymidte", "lr_herlev_hosp"],
       rd("primary", "Herlev Ringvej", 4, 60, SRC_R3N, ref="O3", **TRACKS), "Herlev Ringvej (Ring 3)")
B.road(["lr_herlev_hosp", "lr_dynamovej", "lr_gladsaxe_trafikplads", "lr_gladsaxevej", "lr_gladsaxe_raadhus", "lr_buddinge"],
       rd("primary", "Gladsaxe Ringvej", 4, 60, SRC_R3N, ref="O3", **TRACKS), "Gladsaxe Ringvej (Ring 3)")
B.road(["lr_buddinge", "lr_gammelmosevej", "lr_lyngby", "lr_lyngby_centrum", "lr_fortunbyen", "d_lyngby",
        "lr_akademivej", "lr_anker_engelunds", "lr_raevehojvej", "lr_lundtofte"],
       rd("primary", "Lundtoftegårdsvej", 4, 60, SRC_R3N + "; Lundtoftegårdsvej named in dinletbane.dk linjeføring page (R); name used for the whole Buddinge-Lundtofte stretch (schematic)", ref="O3", **TRACKS),
       "Ring 3 north to Lyngby and DTU")
B.road(["lr_gladsaxe_trafikplads", "d_gladsaxe", "lr_gladsaxevej"],
       rd("secondary", "Gladsaxe Møllevej (schematic)", 2, 50, "Gladsaxe DAWA point (geography.md §4a R-sec); " + SCHEM),
       "Gladsaxe centre loop")
B.road(["lr_herlev_bymidte", ("hv_mid", (55.7330, 12.4330)), "d_herlev"],
       rd("secondary", "Herlev Hovedgade (schematic)", 2, 50, "Herlev DAWA point (geography.md §4a R-sec); " + SCHEM),
       "Herlev north")
B.road(["sr_sydvestvej", ("f_glostrup", (55.6622, 12.3985)), "d_glostrup", ("sv_w", (55.6605, 12.3800)), "f_albertslund"],
       rd("secondary", "Sydvestvej", 2, 50, "Glostrup St. (geography.md §1a R) as the Glostrup job centre (§4a); " + SCHEM, **TRACKS),
       "Sydvestvej: Ring 3 -> Glostrup St. -> Albertslund St.")
B.road(["f_albertslund", "rv_albertslund", ("ab_mid", (55.6750, 12.3540)), "d_albertslund",
        ("ab_n", (55.7050, 12.3600)), "d_ballerup"],
       rd("secondary", "Albertslund–Ballerup corridor (schematic)", 2, 60, "Albertslund and Ballerup DAWA points (geography.md §4a R-sec); " + SCHEM, **TRACKS),
       "Albertslund St. -> Albertslund -> Ballerup")
B.road(["lr_glostrup_ejby", ("jv_mid", (55.6905, 12.4300)), ("jv_rodovre", (55.6895, 12.4480))],
       rd("secondary", "Jyllingevej", 4, 50, SCHEM), "Jyllingevej Ring 3 -> Rødovre")
B.road(["rv_rodovre", ("rdv_mid", (55.6745, 12.4530)), "d_rodovre", "jv_rodovre"],
       rd("secondary", "Rødovrevej", 4, 50, "Rødovre DAWA point (geography.md §4a R-sec); " + SCHEM, **TRACKS),
       "Rødovrevej")
B.road(["d_ballerup", ("blb_w", (55.7200, 12.3500))],
       rd("secondary", "Ballerup Byvej", 2, 50, SCHEM), "Ballerup Byvej to Motorring 4 north end")

# Høje-Taastrup
B.road([("x6_s", (55.6405, 12.2705)), ("x6_n", (55.6455, 12.2698)), ("ht_forecourt", (55.6488, 12.2697)), "rv_ht"],
       rd("secondary", "Høje Taastrup Boulevard (schematic)", 4, 60, "Holbækmotorvejen exit 6 Høje Taastrup C (geography.md §3a R); Høje Taastrup St. (§1a R); " + SCHEM),
       "Exit 6 -> Høje Taastrup St. -> Roskildevej", bridges=(0,))

# Ishøj, Hundige, Greve, Køge (coast corridor)
P.update({
    "is_strand_lr": (55.6158, 12.3648),  # F §1b Ishøj Strand – Arken stop (U)
    "is_station": (55.6140, 12.3598),
    "is_hundige": (55.5985, 12.3365),
    "greve_n": (55.5920, 12.3180),
    "karlslunde": (55.5500, 12.2650),
    "solrod": (55.5150, 12.2250),
    "koge_n": (55.4790, 12.1930),
    "ist_x26_s": (55.6200, 12.3612),
    "ist_x26_n": (55.6242, 12.3628),
    "ist_n": (55.6255, 12.3560),
    "is_m4_e": (55.6250, 12.3440),
    "is_m4_w": (55.6245, 12.3380),
})
B.road(["j_strandvej_ishoj", "is_strand_lr", "is_station", ("is_mid", (55.6070, 12.3470)), "is_hundige"],
       rd("secondary", "Ishøj Strandvej", 2, 50, SRC_C77 + "; Ishøj Strand stop on Ishøj Strandvej (ishoj.dk, R)", **C77),
       "Ishøj Strandvej (C77)")
B.road(["is_hundige", "greve_n", "d_greve"],
       rd("secondary", "Greve Strandvej", 2, 50, SCHEM + "; Greve St. as Greve job centre (U)", **TRACKS), "Greve Strandvej")
B.road(["d_greve", "karlslunde", "solrod", "koge_n", "d_koge"],
       rd("secondary", "Køgevej (schematic coastal corridor)", 2, 60, SCHEM + "; Køge St./town centre as Køge job centre (U)", **TRACKS),
       "Greve -> Solrød -> Køge")
B.road(["is_station", ("is_forecourt", (55.6138, 12.3582)), "ist_x26_s", "ist_x26_n", "ist_n"],
       rd("secondary", "Ishøj Stationsvej", 4, 50, "geography.md §3a exit 26 Ishøj Strand (R), Ishøj St. (§1a R-sec); road name and alignment U", **TRACKS),
       "Ishøj Stationsvej: Ishøj St. -> KBM exit 26", bridges=(2,))
B.road(["ist_n", ("is_c", (55.6252, 12.3500)), "is_m4_e", "is_m4_w", "d_ishoj"],
       rd("tertiary", "Ishøj Landsby road (schematic)", 2, 50, "Ishøj DAWA point (geography.md §4a R-sec); " + SCHEM, **TRACKS),
       "Ishøj centre -> Ishøj Landsby over Motorring 4", bridges=(2,))
B.road(["vg_kbm_n", ("vi_mid", (55.6262, 12.3660)), "ist_n"],
       rd("tertiary", "Vallensbæk–Ishøj local road (schematic)", 2, 50, "assumption: local link north of Køge Bugt Motorvejen between Vejlegårdsvej and Ishøj (U); " + SCHEM, **TRACKS),
       "Vejlegårdsvej -> Ishøj north of the motorway")
B.road(["greve_n", ("x27_s", (55.5900, 12.3010)), ("x27_n", (55.5955, 12.2950))],
       rd("secondary", "Greve Nord access road (schematic)", 2, 60, "geography.md §3a KBM exit 27 Greve Nord (R); " + SCHEM),
       "Greve Nord exit road", bridges=(1,))

# --------------------------------------------------------------------------------------
# Long-distance tail (zones.toml: Roskilde, Hillerød, Tårnby/Kastrup, Ringsted).  Car access by the
# motorways above; bikes and walkers on parallel ordinary roads (schematic, meandering like the other
# corridors).  Destination points: stations (R-sec) except Hillerød St. (U).
# --------------------------------------------------------------------------------------
P.update({
    "d_roskilde": (55.63861, 12.08833),  # Roskilde St., en.wikipedia Roskilde station (R-sec)
    "d_hillerod": (55.9268, 12.3110),  # U: Hillerød St. (recalled)
    "d_taarnby": (55.629583, 12.649375),  # Københavns Lufthavn, Kastrup St. (de-academic / de.wiki, R-sec)
    "d_ringsted": (55.43806, 11.78639),  # Ringsted St., en.wikipedia Ringsted railway station (R-sec)
    "rk_hbm_end": (55.6240, 12.0875),  # U: Ringstedvej node where Holbækmotorvejen ends (schematic)
    "rg_x35": (55.4570, 11.8330),  # U: Ringsted Øst, local node at Vestmotorvejen exit 35 (schematic end)
    "cph_blvd": (55.6262, 12.6420),  # U: Lufthavnsboulevarden west of the terminals
    "hl_s": (55.9075, 12.3240),  # U: Hillerød south, end of Hillerødmotorvejen
})
SRC_ROSK = "Roskilde St. (en.wikipedia, R-sec) as Roskilde job centre; " + SCHEM
B.road(["d_hoje_taastrup", ("hv_hedehusene", (55.6560, 12.2000)), ("hv_flong", (55.6500, 12.1600)),
        ("kv_trekroner", (55.6460, 12.1300)), "d_roskilde"],
       rd("primary", "Roskildevej / Hovedvejen / Københavnsvej (schematic)", 2, 60,
          SRC_ROSK + "; route 156 Høje-Taastrup - Hedehusene - Roskilde (names U)", ref="156", **TRACKS),
       "Høje-Taastrup -> Hedehusene -> Roskilde (ordinary road parallel to Holbækmotorvejen)")
B.road(["rk_hbm_end", ("rk_mid", (55.6310, 12.0880)), "d_roskilde"],
       rd("secondary", "Ringstedvej (Roskilde, schematic)", 2, 50, SRC_ROSK),
       "Holbækmotorvejen end -> Roskilde St.")

SRC_RING = "Ringsted St. (en.wikipedia, R-sec); the zone stands for Zealand beyond Køge/Roskilde; " + SCHEM
B.road(["d_koge", ("kr_ellemarken", (55.4640, 12.1300)), ("kr_bjaeverskov", (55.4590, 12.0400)),
        ("kr_borup", (55.4560, 11.9700)), ("kr_kvaerkeby", (55.4520, 11.8800)), "rg_x35"],
       rd("secondary", "Køge–Ringsted road (schematic)", 2, 80, SRC_RING + "; ordinary road parallel to Vestmotorvejen (name U)", **TRACKS),
       "Køge -> Bjæverskov -> Borup -> Ringsted (ordinary road parallel to Vestmotorvejen)")
B.road(["rg_x35", ("rg_mid", (55.4460, 11.8000)), "d_ringsted"],
       rd("secondary", "Køgevej (Ringsted, schematic)", 2, 50, SRC_RING),
       "Vestmotorvejen exit 35 -> Ringsted St.")

SRC_CPH = "Copenhagen Airport, Lufthavnsboulevarden 6, Kastrup, 23,000 employees (da.wikipedia Københavns Lufthavn, R-sec); airport station point (R-sec); " + SCHEM
B.road(["folehaven_e", ("sjb_amager", (55.6480, 12.5420)), ("va_orestad", (55.6400, 12.5800)),
        ("al_taarnby", (55.6300, 12.6000)), ("al_kastrup", (55.6320, 12.6300)), "cph_blvd", "d_taarnby"],
       rd("secondary", "Sjællandsbroen / Amager corridor to Kastrup (schematic)", 4, 50,
          SRC_CPH + "; via Sjællandsbroen, Ørestad and Tårnby (names U)", **TRACKS),
       "Sjællandsbroen -> Ørestad -> Tårnby -> Copenhagen Airport (ordinary roads)")

SRC_HIL = "Hillerød St. as Hillerød job centre (U coordinate); " + SCHEM
B.road(["lr_buddinge", ("hr_bagsvaerd", (55.7620, 12.4560)), ("hr_farum", (55.8100, 12.3650)),
        ("hr_allerod", (55.8690, 12.3420)), "hl_s", "d_hillerod"],
       rd("secondary", "Buddinge–Bagsværd–Farum–Allerød–Hillerød road (schematic)", 2, 60,
          SRC_HIL + "; ordinary road parallel to Hillerødmotorvejen (name descriptive)", **TRACKS),
       "Ring 3 (Buddinge) -> Bagsværd -> Farum -> Allerød -> Hillerød")

# --------------------------------------------------------------------------------------
# Ramps and motorway terminals
# --------------------------------------------------------------------------------------
exit_ramps(kbm, "kbm_x25", B.named["sr_kbm_s"], B.named["sr_kbm_n"], "25")
exit_ramps(kbm, "kbm_x26", B.named["ist_x26_s"], B.named["ist_x26_n"], "26")
exit_ramps(kbm, "kbm_x27", B.named["x27_s"], B.named["x27_n"], "27")
exit_ramps(hbm, "hbm_x2", B.named["sr_hbm_s"], B.named["sr_hbm_n"], "2")
exit_ramps(hbm, "hbm_x3", B.named["tv_hbm_s"], B.named["tv_hbm_n"], "3")
branch_start(kbm, "kbm_mk_ishoj", m4s, "O4")
branch_end(hbm, "hbm_mk_vall", m4s, "O4")
branch_start(hbm, "hbm_mk_taastrup", m4n, "O4")
terminal(kbm, False, B.named["koge_n"], "M10")
terminal(kbm, True, B.named["folehaven_e"], "M10")
terminal(hbm, False, B.named["folehaven_w"], "21")
exit_ramps(hbm, "hbm_x6", B.named["x6_s"], B.named["x6_n"], "6")
terminal(hbm, True, B.named["rk_hbm_end"], "21")
# long-distance corridors
for a, b, c in ((kbm.bwd[min(kbm.bwd)], vm.fwd[min(vm.fwd)], "KBM -> Vestmotorvejen (MK Køge Vest)"),
                (vm.bwd[min(vm.bwd)], kbm.fwd[min(kbm.fwd)], "Vestmotorvejen -> KBM (MK Køge Vest)")):
    B.way([a, b], link_tags("E20", "2", "90"), c, step=1e9)
terminal(vm, True, B.named["rg_x35"], "E20")
branch_start(kbm, "kbm_mk_avedore", amb, "E20")
terminal(amb, True, B.named["cph_blvd"], "E20")
terminal(hmw, False, B.named["lr_gladsaxe_trafikplads"], "16")
terminal(hmw, True, B.named["hl_s"], "16")
terminal(m4n, True, B.named["blb_w"], "O4")


# --------------------------------------------------------------------------------------
# Write OSM XML
# --------------------------------------------------------------------------------------
def write() -> None:
    """Write the nodes and ways as OSM XML to ``vallensbaek.osm``."""
    lat = [p[0] for p in B.nodes.values()]
    lon = [p[1] for p in B.nodes.values()]
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<osm version="0.6" generator="hand-authored">',
        "  <!-- Vallensbæk strategic road, cycle and foot network (embedded default network).",
        "       Generated by networks/vallensbaek/author_osm.py; do not edit by hand.",
        "       Sources: /work/shared/facts/geography.md (cited per way in source:facts);",
        "       coordinates marked U are hand estimates (may be several hundred metres off).",
        "       Motorways: two oneway carriageways each (lanes = per direction), joined to other",
        "       roads only through motorway_link ramps. -->",
        f'  <bounds minlat="{min(lat):.7f}" minlon="{min(lon):.7f}" maxlat="{max(lat):.7f}" maxlon="{max(lon):.7f}"/>',
    ]
    inv = {v: k for k, v in B.named.items()}
    lines.append("  <!-- Nodes. Named nodes carry a comment: station forecourts (geography.md §1a), Letbane stops")
    lines.append("       (§1b, U), motorway junctions (§3a, U), zone and destination points (§3c, §4a). -->")
    for nid, (la, lo) in B.nodes.items():
        if nid in inv:
            lines.append(f"  <!-- {inv[nid]} -->")
        lines.append(f'  <node id="{nid}" visible="true" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>')
    lines.append("  <!-- Ways -->")
    for wid, refs, tags, comment in B.ways:
        if "source:facts" not in tags:
            tags["source:facts"] = ("geography.md §3a motorway exits/interchanges (R sequence, U geometry); "
                                    "ramp speeds/lanes assumption (U)")
        if comment:
            lines.append(f"  <!-- {comment.replace('--', '-')} -->")
        lines.append(f'  <way id="{wid}" visible="true" version="1">')
        for r in refs:
            lines.append(f'    <nd ref="{r}"/>')
        for k in sorted(tags):
            lines.append(f"    <tag k={quoteattr(k)} v={quoteattr(tags[k])}/>")
        lines.append("  </way>")
    lines.append("</osm>")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
    print(f"wrote {OUT} with {len(B.nodes)} nodes and {len(B.ways)} ways")
