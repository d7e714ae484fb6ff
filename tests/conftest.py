"""Settings for the whole suite (shared builders live in helper modules, not here)."""

from hypothesis import settings

# The suite runs on loaded, shared machines: a slow example is not a failure. Property tests
# still stop at their example budgets.
settings.register_profile("memhub", deadline=None)
settings.load_profile("memhub")
