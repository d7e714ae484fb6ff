"""``memhub migrate``: copy every memory between a SQLite file and a team store, losslessly.

:mod:`~.rows` is a row with every column and its digest, :mod:`~.sides` the two ends,
:mod:`~.sqlite_side` and :mod:`~.postgres_side` the engines; :mod:`memhub.migrate` runs it.
"""
