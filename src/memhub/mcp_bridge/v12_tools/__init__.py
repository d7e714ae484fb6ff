"""The 19 tools mcp-memory-service 12.4 added to the nine core ones, one module per family.

Each handler takes the daemon link and the call's arguments (already validated against 12.4's
schema, as 12.4's SDK does) and returns 12.4's text. 12.4 answers almost every failure as an
ordinary text (``isError`` false); a handler flags a result only where 12.4's handler raises.
"""
