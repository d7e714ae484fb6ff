"""Start mcp-memory-service's stdio server on a Python that cannot load SQLite extensions.

Run with the Python of an mcp-memory-service virtualenv (``tests/compat/mms_env.py``): the
interpreter here lacks loadable-extension support, so ``pysqlite3`` stands in for ``sqlite3``
(what upstream's own docs suggest), then the server's ``__main__`` runs unchanged.
"""

import runpy
import sys

import pysqlite3.dbapi2

sys.modules["sqlite3"] = pysqlite3.dbapi2
sys.modules["sqlite3.dbapi2"] = pysqlite3.dbapi2
runpy.run_module("mcp_memory_service.server", run_name="__main__", alter_sys=True)
