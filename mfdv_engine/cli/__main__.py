"""``python -m mfdv_engine.cli`` (how ``--nproc`` re-launches under torchrun)."""
import sys

from . import main

sys.exit(main())
