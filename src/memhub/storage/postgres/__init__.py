"""The PostgreSQL + pgvector engine: one store that several machines' daemons share.

Each daemon keeps its own exact vector mirror and follows the ``changes`` table, whose ``seq``
is handed out under one advisory lock per store, so every daemon sees every change in one
commit order (:mod:`~.engine`). ``memhub team init`` prepares a database (:mod:`~.ddl`).
"""
