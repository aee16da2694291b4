"""One function per asset body: read inputs from the layout, call the library, write artifacts.

The Dagster assets and the CLI call these; nothing here knows about Dagster.
"""
