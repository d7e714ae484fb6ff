"""The daemon's side of mcp-memory-service 12.4's extra tools.

:mod:`memhub.service` hands every request of :mod:`memhub.protocol.extras` to
:func:`~memhub.extras.dispatch.handle`; each family lives in a module of its own and does its
work through the same actors as the core requests: embeddings from the embedder, reads in one
snapshot of a reader, every write through the writer (group commit, ack after commit, change
feed).
"""
