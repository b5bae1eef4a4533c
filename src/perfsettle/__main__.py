"""``python -m perfsettle``: the same command line as ``perfsettle``."""
import sys

from perfsettle.cli import main

sys.exit(main())
