"""`python -m pcl_pipeline predict ...`: the library's command line (no Dagster); see commands.py."""
import sys

from pcl_pipeline.commands import main

sys.exit(main())
