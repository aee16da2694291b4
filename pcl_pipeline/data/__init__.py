"""DuckDB preprocessing: standard tables -> interactions -> sequences -> per-task data."""
