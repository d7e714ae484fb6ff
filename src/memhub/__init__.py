"""memhub: one shared memory daemon for every MCP client."""

__version__ = "0.2.0"
#: The websocket protocol this memhub speaks; a daemon also serves clients of every version
#: down to ``memhub.protocol.versions.OLDEST_PROTOCOL`` (docs/protocol.md, "Versions").
PROTOCOL_VERSION = 2
