"""`python -m pcl_pipeline predict ...`: the library's command line (no Dagster); see serving/cli.py."""
import sys

from pcl_pipeline.serving.cli import main

sys.exit(main())
