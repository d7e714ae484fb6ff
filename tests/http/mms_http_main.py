"""Start mcp-memory-service's ``memory server --http`` on a Python that cannot load SQLite
extensions: ``pysqlite3`` stands in for ``sqlite3`` (as in ``tests/clients/mms_stdio.py``),
then upstream's own CLI runs with the arguments given."""

import sys

import pysqlite3.dbapi2

sys.modules["sqlite3"] = pysqlite3.dbapi2
sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2

from mcp_memory_service.cli.main import main  # noqa: E402

sys.argv = ["memory", *sys.argv[1:]]
sys.exit(main())
