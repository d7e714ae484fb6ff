"""Storage engines behind one seam (:mod:`memhub.storage.engine`), and the one way to open one.

:func:`open_storage` chooses the engine from the settings (a SQLite file, the embedded default;
a ``postgresql://`` URL, the team engine) and does every check that can fail before the model
loads; :meth:`Opening.complete` finishes once the model is known. Nothing outside this package
imports an engine module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from memhub.config import Settings
    from memhub.embedding import Embedder
    from memhub.storage.engine import Storage


class Opening(Protocol):
    """A store opened and checked, waiting for the embedding model (its dimension, its name)."""

    @property
    def location(self) -> str:
        """The store as people name it: a file path, or a URL without its password."""
        ...

    def complete(self, model: Embedder) -> Storage:
        """Create or check the schema for ``model`` and build the engine (blocking).

        Raises:
            StartupError: the store cannot serve this model; the message says why.
        """
        ...

    def abandon(self) -> None:
        """Close what was opened (start-up failed before :meth:`complete`)."""
        ...


def open_storage(settings: Settings) -> Opening:
    """Open the store ``settings`` name (blocking: run it in a worker thread).

    Raises:
        StartupError: the store cannot be used; the message names it and the fix.
    """
    if settings.database_url is not None:
        try:
            from memhub.storage.postgres.opening import open_database
        except ImportError as exc:
            from memhub.errors import StartupError

            raise StartupError(
                f"a PostgreSQL store needs memhub's team extra ({exc.name} is missing): "
                "pip install 'memhub[team]'"
            ) from None
        return open_database(settings)
    from memhub.storage.sqlite.opening import open_file

    return open_file(settings)
