"""The team store's layout in PostgreSQL, and what ``memhub team init`` runs.

One schema (``memhub`` unless named otherwise) holds:

* ``memories``: mcp-memory-service's columns (the same CSV tags, REAL epochs, ISO strings, soft
  delete, 12.x's ``store``, ``parent_id``, ``version``, ``confidence``, ``last_accessed``,
  ``superseded_by``, ``embedding_pending``), with ``content_hash`` unique across the store and
  the embedding in a pgvector column beside the row;
* ``changes``: the ordered change feed every daemon follows (``seq`` from ``change_seq``, taken
  under the store's advisory lock, so ``seq`` order is commit order);
* ``memory_graph``: mcp-memory-service 12.x's relations between memories (edges, entity links,
  contradictions), in its own shape;
* ``meta``: the layout, the embedding model and its dimension (a daemon with another model is
  refused) and how far the change feed has been pruned.

``memhub_writer`` and ``memhub_reader`` are group roles: grant one to each member's login role.
"""

from __future__ import annotations

from typing import Final

LAYOUT: Final = "team-1"
WRITER_ROLE: Final = "memhub_writer"
READER_ROLE: Final = "memhub_reader"


def schema_sql(schema: str, dimension: int) -> list[str]:
    """The statements that create the store in an empty schema (idempotent)."""
    s = schema
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"""CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value text NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS {s}.memories (
            id bigserial PRIMARY KEY,
            content_hash text NOT NULL UNIQUE,
            content text NOT NULL,
            tags text,
            memory_type text,
            metadata text,
            created_at double precision,
            updated_at double precision,
            created_at_iso text,
            updated_at_iso text,
            deleted_at double precision,
            store text NOT NULL DEFAULT 'default',
            parent_id text,
            version integer DEFAULT 1,
            confidence double precision DEFAULT 1.0,
            last_accessed bigint,
            superseded_by text,
            embedding_pending integer NOT NULL DEFAULT 0,
            embedding vector({int(dimension)})
        )""",
        # 12.x's flag, kept so that `memhub migrate` moves a 12.x file losslessly (stores made
        # before it existed gain it here; no rewrite: a constant default).
        f"ALTER TABLE {s}.memories "
        "ADD COLUMN IF NOT EXISTS embedding_pending integer NOT NULL DEFAULT 0",
        f"CREATE INDEX IF NOT EXISTS memories_created_at ON {s}.memories (created_at)",
        f"CREATE INDEX IF NOT EXISTS memories_deleted_at ON {s}.memories (deleted_at)",
        f"CREATE INDEX IF NOT EXISTS memories_store ON {s}.memories (store, created_at)",
        f"CREATE INDEX IF NOT EXISTS memories_type ON {s}.memories (memory_type)",
        f"CREATE SEQUENCE IF NOT EXISTS {s}.change_seq",
        f"""CREATE TABLE IF NOT EXISTS {s}.changes (
            seq bigint PRIMARY KEY,
            at double precision NOT NULL,
            kind text NOT NULL,
            memory_id bigint NOT NULL,
            content_hash text NOT NULL,
            store text NOT NULL,
            client text NOT NULL DEFAULT '',
            origin text NOT NULL DEFAULT '',
            before jsonb,
            memory jsonb
        )""",
        f"CREATE INDEX IF NOT EXISTS changes_memory ON {s}.changes (memory_id)",
        # mcp-memory-service 12.x's relations table, of the same shape as its SQLite one.
        f"""CREATE TABLE IF NOT EXISTS {s}.memory_graph (
            source_hash text NOT NULL,
            target_hash text NOT NULL,
            similarity double precision NOT NULL,
            connection_types text NOT NULL,
            metadata text,
            created_at double precision NOT NULL,
            relationship_type text DEFAULT 'related',
            PRIMARY KEY (source_hash, target_hash)
        )""",
        f"CREATE INDEX IF NOT EXISTS graph_target ON {s}.memory_graph (target_hash)",
        f"CREATE INDEX IF NOT EXISTS graph_relationship ON {s}.memory_graph (relationship_type)",
        # A string value of a JSON text column, NULL when the text is not JSON (legacy rows).
        f"""CREATE OR REPLACE FUNCTION {s}.json_text(doc text, key text) RETURNS text
            LANGUAGE plpgsql IMMUTABLE AS $$
            BEGIN
                RETURN CASE WHEN jsonb_typeof(doc::jsonb -> key) = 'string'
                            THEN doc::jsonb ->> key END;
            EXCEPTION WHEN others THEN
                RETURN NULL;
            END $$""",
    ]


def grants_sql(schema: str) -> list[str]:
    """Group roles and their privileges (created if missing; grants are idempotent)."""
    s = schema
    statements = [
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} NOLOGIN;
            END IF;
        END $$"""
        for role in (WRITER_ROLE, READER_ROLE)
    ]
    statements += [
        f"GRANT USAGE ON SCHEMA {s} TO {WRITER_ROLE}, {READER_ROLE}",
        f"GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {READER_ROLE}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {WRITER_ROLE}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {WRITER_ROLE}",
    ]
    return statements
