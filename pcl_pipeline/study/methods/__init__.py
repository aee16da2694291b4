"""The study's methods: PCL and its baselines and ablations as peers (see docs/method.md)."""
