"""Every pipeline asset stamps the store's ledger (pcl_pipeline.store.ledger) with what it wrote.

`@stamped(outputs)` goes under `@asset`: before the body runs the asset's stamp is removed (a
step killed half-way leaves none, so the next run rebuilds it); after it returns, the stamp
records the run, the asset's code version, the data versions of its inputs as the ledger had
them, its own data version, and the files `outputs(store)` names. assets/selection.py reads the
stamps to decide what a run must rebuild.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Iterable

from dagster import AssetExecutionContext

from pcl_pipeline.store.ledger import Ledger
from resources.store import StoreResource

Outputs = Callable[[StoreResource], Iterable[Path]]


def stamped(outputs: Outputs):
    """Decorate an asset body whose resources include `store` (a StoreResource)."""
    def decorate(fn):
        @functools.wraps(fn)  # Dagster reads the wrapped signature: context and resources as before
        def body(*args, **kwargs):
            context = AssetExecutionContext.get()
            store: StoreResource = kwargs["store"]
            ledger = Ledger(Path(store.home))
            key = context.asset_key
            ledger.forget(key.to_user_string())
            inputs = {}
            for parent in context.assets_def.asset_deps[key]:
                stamp = ledger.get(parent.to_user_string())
                inputs[parent.to_user_string()] = stamp.data_version if stamp is not None else "unknown"
            result = fn(*args, **kwargs)
            version = result.data_version.value if result.data_version is not None else f"run:{context.run_id}"
            ledger.record(key.to_user_string(), run_id=context.run_id, data_version=version, inputs=inputs,
                          code_version=context.assets_def.code_versions_by_key.get(key) or "",
                          files=list(outputs(store)))
            return result
        return body
    return decorate
