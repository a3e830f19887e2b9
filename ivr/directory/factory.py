"""Open the customer directory named in configuration: a SQLite file or an HTTP service.

Configuration names a directory by one string, so deployments switch backends without code.
Both kinds come back with lockout across calls: the SQLite directory keeps it in its own
file, the HTTP directory is wrapped by LockingDirectory with state in a local SQLite file.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ivr.directory.hashing import KeyRing
from ivr.directory.http_directory import DEFAULT_TIMEOUT_S, HttpDirectory
from ivr.directory.lockout import Clock, LockingDirectory, LockoutPolicy, LockoutState
from ivr.directory.otp_state import OtpState
from ivr.directory.port import CustomerDirectory, DirectoryError
from ivr.directory.sqlite_store import SqliteDirectory

DEFAULT_LOCKOUT_DB = "var/lockout.db"
logger = logging.getLogger(__name__)


def sqlite_path(url_or_path: str) -> str | None:
    """The file of a SQLite directory URL or path; None for an HTTP directory."""
    if url_or_path.startswith(("http://", "https://")):
        return None
    if url_or_path.startswith("sqlite:///"):
        return url_or_path.removeprefix("sqlite:///")
    if "://" in url_or_path:
        raise DirectoryError(f"unsupported directory URL {url_or_path!r}")
    return url_or_path


def _is_file(path: str) -> bool:
    return Path(path).is_file()


async def check_directory_keys(url_or_path: str, keys: KeyRing) -> None:
    """Raise KeyMismatch when a SQLite directory's answers were made by no configured key.

    An HTTP directory hashes its own answers; a file that does not exist yet holds none.
    """
    path = sqlite_path(url_or_path)
    if not path or not _is_file(path):
        return
    directory = await SqliteDirectory.open(path, lockout=False, keys=keys)
    try:
        await directory.check_keys()
    finally:
        await directory.close()


async def open_directory(
    url_or_path: str,
    *,
    token: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    lockout_db: str | Path | None = None,
    policy: LockoutPolicy | None = None,
    clock: Clock = time.time,
    answer_key: bytes | None = None,
    keys: KeyRing | None = None,
) -> CustomerDirectory:
    """Open a SQLite directory or an HTTP one (with lockout state in `lockout_db`).

    SQLite: a bare path, `sqlite:///relative/path` or `sqlite:////absolute/path`.
    HTTP: `http://...` or `https://...`, the base URL of the contract's endpoints.

    The HTTP bearer token is `IVR_DIRECTORY_TOKEN` (given from ivr.settings), so it is
    configured by reference and never written in a config file. `keys` are the HMAC keys of a
    SQLite directory's stored answers (`IVR_SECRET_KEY`, newest first), or `answer_key` one.
    """
    if url_or_path.startswith(("http://", "https://")):
        state_path = Path(lockout_db or DEFAULT_LOCKOUT_DB)
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state = await LockoutState.open(state_path)
        try:
            otp_state = await OtpState.open(state_path)
        except BaseException:
            await state.close()
            raise
        try:
            inner = await HttpDirectory.open(url_or_path, token, timeout_s=timeout_s)
        except BaseException:
            await state.close()
            await otp_state.close()
            raise
        return LockingDirectory(inner, state, policy, clock, otp_state)
    path = sqlite_path(url_or_path) or ""  # sqlite:////abs, sqlite:///relative, a bare path
    if not path:
        raise DirectoryError("empty directory path")
    directory = await SqliteDirectory.open(
        path, policy=policy, clock=clock, keys=keys, answer_key=answer_key
    )
    if await directory.count_customers() == 0:  # a mistyped path would create an empty file
        logger.warning("customer directory %s holds no customers: no caller will be found", path)
    return directory
