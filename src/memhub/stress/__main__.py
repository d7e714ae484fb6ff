"""``python -m memhub.stress`` is ``memhub stress``."""

import sys

from memhub.stress.cli import main_stress

raise SystemExit(main_stress(sys.argv[1:]))
