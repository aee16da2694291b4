"""The artifact store: every path under PCL_HOME, every save and load, hashing, atomic writes.

- artifact_store.py: ArtifactStore / DatasetStore, the one owner of paths, saves and loads;
- artifacts.py: the safetensors-plus-manifest format of model artifacts;
- files.py: the atomic-write helper and content hashes (also used by the data layer, hence
  this package imports nothing eagerly).
"""
