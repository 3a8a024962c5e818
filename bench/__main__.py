"""``python -m bench``: the TFB benchmark runner (see ``bench/run.py``)."""

import sys

from bench.run import main

sys.exit(main())
