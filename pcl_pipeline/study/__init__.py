"""The reproduction study: every method of pcl_pipeline/study/methods on every task, over several seeds,
the task-order study for PCL, and the report that checks the paper's claims (docs/study.md)."""
