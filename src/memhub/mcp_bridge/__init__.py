"""``memhub bridge``: the stdio MCP server each Claude app runs, a drop-in for mcp-memory-service.

It speaks MMS's tool surface (names, schemas, result texts, deprecated aliases) and forwards
every call to the one daemon of the database, starting that daemon when none runs. It never
opens the database itself. Modules:

* :mod:`.main` (``run_bridge``), :mod:`.server` (MCP server and lifecycle);
* :mod:`.connection` (daemon discovery, auto-start, reconnect and retry);
* :mod:`.tools`, :mod:`.writes`, :mod:`.reads`, :mod:`.calls` (tool calls);
* :mod:`.schemas`, :mod:`.arguments`, :mod:`.aliases`, :mod:`.formatting`, :mod:`.resources`
  (MMS's surface as data and pure functions);
* :mod:`.install` (``memhub install``) and :mod:`.doctor` (``memhub doctor``).
"""
