"""Deterministic toy single-cell counts behind the example datasets (standard library only).

Counts come from :class:`random.Random` seeded by a SHA-256 of a name, not from numpy,
so the bytes of generated example files stay the same across numpy versions and
machines: re-running an example yields the same hashes.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

# (symbol, Ensembl gene id): a panel of blood-cell markers plus two housekeeping genes.
GENES: tuple[tuple[str, str], ...] = (
    ("CD3E", "ENSG00000198851"),
    ("CD3D", "ENSG00000167286"),
    ("IL7R", "ENSG00000168685"),
    ("CCR7", "ENSG00000126353"),
    ("CD4", "ENSG00000010610"),
    ("CD8A", "ENSG00000153563"),
    ("NKG7", "ENSG00000105374"),
    ("GNLY", "ENSG00000115523"),
    ("MS4A1", "ENSG00000156738"),
    ("CD79A", "ENSG00000105369"),
    ("CD79B", "ENSG00000007312"),
    ("CD14", "ENSG00000170458"),
    ("LYZ", "ENSG00000090382"),
    ("S100A8", "ENSG00000143546"),
    ("S100A9", "ENSG00000163220"),
    ("FCGR3A", "ENSG00000203747"),
    ("FCER1A", "ENSG00000179639"),
    ("PPBP", "ENSG00000163736"),
    ("ACTB", "ENSG00000075624"),
    ("MALAT1", "ENSG00000251562"),
)

MARKERS: dict[str, tuple[str, ...]] = {
    "T cell": ("CD3E", "CD3D", "IL7R", "CCR7", "CD4", "CD8A"),
    "NK cell": ("NKG7", "GNLY", "FCGR3A"),
    "B cell": ("MS4A1", "CD79A", "CD79B"),
    "monocyte": ("CD14", "LYZ", "S100A8", "S100A9", "FCER1A"),
}
HOUSEKEEPING: dict[str, float] = {"ACTB": 9.0, "MALAT1": 14.0}


@dataclass(frozen=True)
class ToyCounts:
    """A barcodes x genes count table.

    Attributes:
        barcodes: Cell Ranger-style barcodes, sorted, one per row.
        cell_types: The simulated cell type per barcode, ``None`` for an empty droplet.
        counts: One list of integer counts per barcode, in the order of :data:`GENES`.
    """

    barcodes: list[str]
    cell_types: list[str | None]
    counts: list[list[int]]


def rng_for(name: str) -> random.Random:
    """A random generator whose stream depends only on ``name``."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return random.Random(seed)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: exact, and fast enough for the small means used here.
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _barcodes(rng: random.Random, n: int) -> list[str]:
    seen: set[str] = set()
    while len(seen) < n:
        seen.add("".join(rng.choice("ACGT") for _ in range(16)) + "-1")
    return sorted(seen)


def simulate(name: str, n_cells: int, n_empty: int = 0) -> ToyCounts:
    """Simulate ``n_cells`` cells of every type in turn plus ``n_empty`` empty droplets.

    Args:
        name: Seeds the generator; the same name always gives the same table.
        n_cells: Number of barcodes holding a cell.
        n_empty: Number of barcodes holding ambient RNA only.

    Returns:
        The table, rows sorted by barcode.
    """
    rng = rng_for(name)
    types: list[str | None] = [list(MARKERS)[i % len(MARKERS)] for i in range(n_cells)]
    types += [None] * n_empty
    rng.shuffle(types)
    barcodes = _barcodes(rng, len(types))
    counts = []
    for cell_type in types:
        markers = MARKERS.get(cell_type, ()) if cell_type else ()
        size = rng.uniform(0.6, 1.4) if cell_type else rng.uniform(0.03, 0.08)
        row = []
        for symbol, _ in GENES:
            mean = HOUSEKEEPING.get(symbol, 6.0 if symbol in markers else 0.3)
            row.append(_poisson(rng, mean * size))
        counts.append(row)
    return ToyCounts(barcodes=barcodes, cell_types=types, counts=counts)
