"""PCL: prompt-based continual learning for user modeling (library layer, no Dagster)."""
