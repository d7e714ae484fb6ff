"""``python -m memhub`` is the ``memhub`` command."""

from memhub.cli import main

raise SystemExit(main())
