"""One function per asset body: read what it needs from the artifact store, call the library,
hand back the result (model and manifest, or a record) for the caller to store.

The Dagster assets and the tests call these; nothing here knows about Dagster, and no stage
module imports another one (what they share lives in the store or below it).
"""
