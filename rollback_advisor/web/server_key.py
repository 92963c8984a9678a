"""The server key that every hook secret derives from (see ``credentials``), and where it
comes from when the config names none.

- ``server.secret_key`` set: that key, whatever the database.
- The embedded SQLite store: a strong key generated on first use and kept beside the
  database, in ``<data dir>/server.key`` (mode 0600; the directory 0700 when we create it).
  stderr says so once, when the file is created. One SQLite file serves one host, so the key
  file is where every worker and CLI command of that installation finds the same key.
- PostgreSQL: no key. Several instances share one database and must derive the same
  secrets, so a key made up by one of them would break the others: ``serve`` and ``hooks
  register`` refuse to start without ``server.secret_key``, naming it.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ..config import Settings
from ..errors import ConfigError

KEY_FILE = "server.key"
_KEY_BYTES = 48  # 384 bits, base64url: well above HMAC-SHA256's 256-bit block of strength


def is_embedded(database_url: str | None) -> bool:
    """True for SQLite (the default when no URL is given): a store one host owns."""
    if database_url is None:
        return True
    try:
        return make_url(database_url).get_backend_name() == "sqlite"
    except ArgumentError:
        return False  # open_store reports the bad URL


def key_path(settings: Settings) -> Path:
    return settings.data_path / KEY_FILE


def server_key(settings: Settings) -> str | None:
    """The configured key, else (embedded store) the data directory's, made on first use;
    None on PostgreSQL without ``server.secret_key``."""
    if settings.server.secret_key:
        return settings.server.secret_key
    if not is_embedded(settings.database_url):
        return None
    return _read_or_create(key_path(settings))


def require_server_key(settings: Settings, what: str) -> str:
    """``server_key`` or a ConfigError that says which setting ``what`` needs."""
    key = server_key(settings)
    if key is None:
        raise ConfigError(
            f"{what} needs server.secret_key with PostgreSQL: every instance must derive the "
            "same hook secrets, so none can make up its own (set server.secret_key: "
            "{$env: ROLLBACK_ADVISOR_SECRET_KEY} and export one long random value to every "
            "instance, e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    return key


def with_server_key(settings: Settings, what: str) -> Settings:
    """``settings`` with ``server.secret_key`` filled in (see ``require_server_key``)."""
    key = require_server_key(settings, what)
    return dataclasses.replace(settings, server=dataclasses.replace(settings.server,
                                                                    secret_key=key))


def _read_or_create(path: Path) -> str:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_urlsafe(_KEY_BYTES)
    # Written whole to a private temporary file, then linked into place: the link fails if
    # another process (a second worker) got there first, and then its key is the key; no
    # reader ever sees a half-written file.
    try:
        fd, tmp = tempfile.mkstemp(prefix=".server.key.", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(key + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.link(tmp, path)
        finally:
            os.unlink(tmp)
    except FileExistsError:
        return _read(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the server key {path}: {exc.strerror} (or set "
                          "server.secret_key)") from None
    print(f"rollback-advisor: generated a server key in {path} (mode 0600); hook secrets "
          "derive from it, so keep it with the database (server.secret_key overrides it)",
          file=sys.stderr)
    return key


def _read(path: Path) -> str:
    try:
        key = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the server key {path}: {exc} (or set "
                          "server.secret_key)") from None
    if len(key) < 32:
        raise ConfigError(f"the server key in {path} is shorter than 32 characters: delete "
                          "the file to have a new one made (every hook secret changes), or "
                          "set server.secret_key")
    return key
