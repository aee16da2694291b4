"""Embedded default data: synthetic MovieLens ML-1M and Tenrec lifelong files with a planted model.

The pipeline ships no real data, so by default it runs on files generated here. They are written in
the exact official formats (the same readers parse real and synthetic files) and follow a planted
generative model, described in docs/synthetic_data.md, under which every task of the catalog is
learnable: next items follow previous items, demographics follow tastes, a second domain and likes
follow the same tastes, ratings follow taste affinity.

Modules: `planted` (the model: tastes, catalogs, dynamics, demographics; scale and random streams),
`writer` (atomic multi-file writer, line encoding), `movielens` and `tenrec` (the generators).

Contracts of both generators:
- Same ``seed`` and ``scale`` give byte-identical files; a different seed gives different files.
- ``scale`` multiplies the number of users; catalogs grow as ``scale ** item_growth`` (sub-linear,
  so items keep enough interactions to be learnable as the user base grows).
- Memory stays bounded at any scale: users are generated and written in fixed-size chunks, each
  from its own seeded random stream (so the output also does not depend on anything but the seed,
  the scale and the config).
- Files are written atomically (``store.files.atomic_path``): each to a temporary file beside its
  final name, all renamed only after every one is complete; a failure leaves no file of the call
  under a final name.
- File names and headers are the readers' own (``pcl_pipeline.formats``), not a second copy.
"""
from pcl_pipeline.synthetic.movielens import (
    ML_AGES,
    ML_GENRES,
    ML_N_OCCUPATIONS,
    MovieLensSynthConfig,
    generate_movielens,
)
from pcl_pipeline.synthetic.planted import TasteDynamics
from pcl_pipeline.synthetic.tenrec import TENREC_N_AGES, TenrecSynthConfig, generate_tenrec

__all__ = [
    "ML_AGES",
    "ML_GENRES",
    "ML_N_OCCUPATIONS",
    "TENREC_N_AGES",
    "MovieLensSynthConfig",
    "TasteDynamics",
    "TenrecSynthConfig",
    "generate_movielens",
    "generate_tenrec",
]
