"""Every method of the study by name, in the order of their cards (methods/cards.py)."""
from __future__ import annotations

from pcl_pipeline.study.methods.adapter import ADAPTER
from pcl_pipeline.study.methods.base import Method
from pcl_pipeline.study.methods.full import FINE_ALL, SEQ_FT, SIN_MO
from pcl_pipeline.study.methods.mtl import MTL
from pcl_pipeline.study.methods.pcl import PCL, PCL_NO_CONTEXT, PCL_NO_INHERIT, PCL_RANDOM_TEXT
from pcl_pipeline.study.methods.teracon import TERACON

METHODS: dict[str, Method] = {m.name: m for m in (PCL, PCL_NO_CONTEXT, PCL_NO_INHERIT, PCL_RANDOM_TEXT,
                                                   ADAPTER, FINE_ALL, SIN_MO, SEQ_FT, MTL, TERACON)}


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}") from None
