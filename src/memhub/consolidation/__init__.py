"""mcp-memory-service 12.4's consolidation pipeline, computed: pure functions of the memories.

Nothing here touches storage, trio or the clock of its own accord: the daemon
(:mod:`memhub.extras.consolidation_run`) reads the memories in a reader snapshot, runs these
functions in a worker thread, and persists what they decided through the writer in chunks.
Each module is one phase of 12.4's ``consolidation/`` package, matching its formulas, texts
and metadata keys: :mod:`.decay`, :mod:`.associations` (with :mod:`.inference` for the edge
labels), :mod:`.clustering`, :mod:`.compression`, :mod:`.forgetting` (and :mod:`.archive`,
its files).
"""
