"""The web UI's files, read once from the package, and the headers every response carries.

Only files inside ``memhub/webui/static`` exist for the HTTP front: they are loaded into memory
at start-up and looked up by name, so no request path ever reaches the filesystem (the runtime
file with the master token sits beside the database, far from here, and is never served).

Assets are served under ``/assets/<digest>/`` where the digest covers every static file: their
URLs change whenever any of them changes, so they can be cached forever (``immutable``), while
``index.html``, which names the digest, is revalidated on every load (``no-cache``).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Final

import attrs

from memhub import __version__

CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}
ASSET_CACHE: Final = "public, max-age=31536000, immutable"
INDEX_CACHE: Final = "no-cache"
ASSET_BASE_MARK: Final = "{{ASSET_BASE}}"


@attrs.frozen
class Asset:
    body: bytes
    content_type: str
    cache_control: str


class StaticSite:
    """Lookup of ``GET`` paths: ``/`` (index.html) and ``/assets/<digest>/<name>``."""

    def __init__(self, files: dict[str, bytes]) -> None:
        if "index.html" not in files:
            raise ValueError("the web UI needs an index.html")
        digest = hashlib.sha256()
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name] + b"\0")
        self.digest = f"{__version__}-{digest.hexdigest()[:12]}"
        self.asset_base = f"/assets/{self.digest}"
        self._assets = {
            name: Asset(body, _content_type(name), ASSET_CACHE)
            for name, body in files.items()
            if name != "index.html"
        }
        index = files["index.html"].replace(ASSET_BASE_MARK.encode(), self.asset_base.encode())
        self._index = Asset(index, CONTENT_TYPES[".html"], INDEX_CACHE)

    @classmethod
    def from_package(cls) -> StaticSite:
        root = resources.files("memhub.webui") / "static"
        files: dict[str, bytes] = {}
        pending = [(root, "")]
        while pending:
            folder, prefix = pending.pop()
            for entry in folder.iterdir():
                name = prefix + entry.name
                if entry.is_dir():
                    pending.append((entry, name + "/"))
                elif _content_type(name) != "application/octet-stream":
                    files[name] = entry.read_bytes()
        return cls(files)

    def lookup(self, path: str) -> Asset | None:
        if path in ("/", "/index.html"):
            return self._index
        prefix = self.asset_base + "/"
        if path.startswith(prefix):
            return self._assets.get(path[len(prefix) :])
        return None

    @staticmethod
    def security_headers(port: int) -> list[tuple[bytes, bytes]]:
        """Headers for every response: strict CSP (scripts and styles from here only)."""
        # Chromium rejects IPv6 literals in source lists ([::1]); the daemon listens on IPv4
        # and its Origin check admits only these two page origins anyway.
        sockets = " ".join(f"ws://{h}:{port}" for h in ("127.0.0.1", "localhost"))
        csp = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src {sockets}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        )
        return [
            (b"content-security-policy", csp.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cross-origin-resource-policy", b"same-origin"),
        ]


def _content_type(name: str) -> str:
    dot = name.rfind(".")
    return (
        CONTENT_TYPES.get(name[dot:], "application/octet-stream")
        if dot >= 0
        else ("application/octet-stream")
    )
