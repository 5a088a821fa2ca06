"""Synthetic AnnData objects shaped like well-known single-cell datasets.

Values come from :func:`rng_for` (the standard library's generator), never numpy's, so the
same call gives the same numbers on every machine and numpy version; numpy, pandas and anndata
only hold them. Nothing here is measured data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamin_flows.dev._simulate import GENES, rng_for

if TYPE_CHECKING:
    import anndata

# scanpy's pbmc68k_reduced: the 10 FACS-sorted populations of Zheng et al. (2017) in "bulk_labels"
BULK_LABELS = (
    "CD14+ Monocyte",
    "CD19+ B",
    "CD34+",
    "CD4+/CD25 T Reg",
    "CD4+/CD45RA+/CD25- Naive T",
    "CD4+/CD45RO+ Memory",
    "CD56+ NK",
    "CD8+ Cytotoxic T",
    "CD8+/CD45RA+ Naive Cytotoxic",
    "Dendritic",
)
PBMC_N_OBS, PBMC_N_VARS, PBMC_N_PCS = 70, 100, 50
PALETTE = ("#1f77b4", "#ff7f0e", "#279e68", "#d62728", "#aa40fc", "#8c564b", "#e377c2", "#b5bd61", "#17becf", "#aec7e8")


def pbmc68k_reduced() -> anndata.AnnData:
    """70 cells x 100 genes with the layout of ``scanpy.datasets.pbmc68k_reduced()``."""
    import anndata
    import numpy as np
    import pandas as pd

    rng = rng_for("pbmc68k_reduced")
    genes = [symbol for symbol, _ in GENES] + [f"LFG{i:04d}" for i in range(PBMC_N_VARS - len(GENES))]
    labels = [BULK_LABELS[i % len(BULK_LABELS)] for i in range(PBMC_N_OBS)]
    rng.shuffle(labels)
    louvain = [str(BULK_LABELS.index(label) % 8) for label in labels]  # clusters merge some populations
    # X: scaled log-expression, like pbmc68k_reduced (zero mean per gene, clipped at 10)
    raw = [
        [rng.gauss(1.0 if (g + BULK_LABELS.index(lab)) % 7 == 0 else 0.0, 1.0) for g in range(PBMC_N_VARS)]
        for lab in labels
    ]
    x = np.asarray(raw, dtype=np.float64)
    x = np.clip((x - x.mean(axis=0)) / x.std(axis=0), -10, 10).astype(np.float32)
    centers = {c: [rng.gauss(0, 5) for _ in range(PBMC_N_PCS)] for c in sorted(set(louvain))}
    umap_centers = {c: (rng.uniform(-10, 10), rng.uniform(-10, 10)) for c in sorted(set(louvain))}
    obs = pd.DataFrame(
        {
            "bulk_labels": pd.Categorical(labels, categories=list(BULK_LABELS)),
            "n_genes": np.asarray([rng.randrange(600, 1800) for _ in labels], dtype=np.int64),
            "percent_mito": np.asarray([rng.uniform(0.005, 0.05) for _ in labels], dtype=np.float32),
            "n_counts": np.asarray([float(rng.randrange(1500, 6000)) for _ in labels], dtype=np.float32),
            "S_score": np.asarray([rng.gauss(0, 0.1) for _ in labels]),
            "G2M_score": np.asarray([rng.gauss(0, 0.1) for _ in labels]),
        },
        index=pd.Index([f"{''.join(rng.choice('ACGT') for _ in range(14))}-1" for _ in labels]),
    )
    obs["phase"] = pd.Categorical(
        [
            "S" if s > max(g, 0) else "G2M" if g > max(s, 0) else "G1"
            for s, g in zip(obs["S_score"], obs["G2M_score"], strict=True)
        ],
        categories=["G1", "G2M", "S"],
    )
    obs["louvain"] = pd.Categorical(louvain, categories=[str(c) for c in range(8)])
    means = [rng.uniform(0.01, 3.0) for _ in genes]
    dispersions = [rng.uniform(0.5, 5.0) for _ in genes]
    var = pd.DataFrame(
        {
            "n_counts": np.asarray([float(rng.randrange(50, 20_000)) for _ in genes], dtype=np.float32),
            "means": np.asarray(means),
            "dispersions": np.asarray(dispersions),
            "dispersions_norm": np.asarray([(d - 2.75) / 1.3 for d in dispersions], dtype=np.float32),
            "highly_variable": np.asarray([d > 2.0 for d in dispersions]),
        },
        index=pd.Index(genes),
    )
    variance = sorted((rng.uniform(1, 30) for _ in range(PBMC_N_PCS)), reverse=True)
    obsm = {
        "X_pca": np.asarray([[c + rng.gauss(0, 1) for c in centers[cl]] for cl in louvain], dtype=np.float32),
        "X_umap": np.asarray([[umap_centers[cl][k] + rng.gauss(0, 0.5) for k in (0, 1)] for cl in louvain]),
    }
    varm = {"PCs": np.asarray([[rng.gauss(0, 0.1) for _ in range(PBMC_N_PCS)] for _ in genes])}
    uns = {
        "bulk_labels_colors": np.asarray(PALETTE, dtype=object),
        "louvain_colors": np.asarray(PALETTE[:8], dtype=object),
        "pca": {"variance": np.asarray(variance), "variance_ratio": np.asarray(variance) / (sum(variance) * 4)},
    }
    return anndata.AnnData(X=x, obs=obs, var=var, obsm=obsm, varm=varm, uns=uns)


MOUSE_GENES = (
    "Cd3e",
    "Cd4",
    "Cd8a",
    "Cd19",
    "Ms4a1",
    "Cd79a",
    "Itgax",
    "H2-Ab1",
    "Lyz2",
    "Adgre1",
    "Nkg7",
    "Klrb1c",
    "Ccr7",
    "Sell",
    "Foxp3",
    "Il7r",
    "Ptprc",
    "Actb",
    "Malat1",
    "Gapdh",
)
MOUSE_MARKERS = {
    "T cell": ("Cd3e", "Cd4", "Cd8a", "Il7r", "Ccr7", "Sell"),
    "B cell": ("Cd19", "Ms4a1", "Cd79a", "H2-Ab1", "Sell"),
    "dendritic cell": ("Itgax", "H2-Ab1", "Ccr7"),
    "macrophage": ("Lyz2", "Adgre1", "H2-Ab1"),
    "natural killer cell": ("Nkg7", "Klrb1c"),
}


def mouse_sc_lymph_node() -> anndata.AnnData:
    """40 cells x 20 genes of simulated counts from mouse lymph nodes of two donors."""
    import anndata
    import numpy as np
    import pandas as pd

    rng = rng_for("mouse_sc_lymph_node")
    types = [list(MOUSE_MARKERS)[i % len(MOUSE_MARKERS)] for i in range(40)]
    rng.shuffle(types)
    housekeeping = {"Ptprc": 8.0, "Actb": 12.0, "Malat1": 20.0, "Gapdh": 6.0}
    counts = [
        [
            float(round(rng.expovariate(1 / housekeeping.get(g, 7.0 if g in MOUSE_MARKERS[t] else 0.2))))
            for g in MOUSE_GENES
        ]
        for t in types
    ]
    donors = [rng.choice(("mouse_1", "mouse_2")) for _ in types]
    obs = pd.DataFrame(
        {
            "cell_type": pd.Categorical(types, categories=list(MOUSE_MARKERS)),
            "tissue": pd.Categorical(["lymph node"] * len(types)),
            "donor_id": pd.Categorical(donors, categories=["mouse_1", "mouse_2"]),
            "sex": pd.Categorical(
                ["female" if d == "mouse_1" else "male" for d in donors], categories=["female", "male"]
            ),
            "developmental_stage": pd.Categorical(["adult"] * len(types)),
            "organism": pd.Categorical(["Mus musculus"] * len(types)),
        },
        index=pd.Index([f"cell_{i:03d}" for i in range(len(types))]),
    )
    var = pd.DataFrame(index=pd.Index(list(MOUSE_GENES)))
    return anndata.AnnData(X=np.asarray(counts, dtype=np.float32), obs=obs, var=var)
