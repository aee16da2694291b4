"""Training: one loop shared by backbone pretraining and per-task prompt tuning."""
