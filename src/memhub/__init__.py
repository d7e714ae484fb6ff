"""memhub: one shared memory daemon for every MCP client."""

__version__ = "0.1.0"
PROTOCOL_VERSION = 1
