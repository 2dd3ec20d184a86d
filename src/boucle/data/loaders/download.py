"""Cached, checksummed downloads: :func:`download` fetches a URL into a local cache folder
(``$BOUCLE_DATA`` or ``~/.cache/boucle``), checks its SHA-256 and writes the file atomically;
offline, it says which file to place where. The tests serve fixtures on 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from ...errors import BoucleError

__all__ = ["default_cache_dir", "download"]


def default_cache_dir() -> Path:
    """``$BOUCLE_DATA`` if set, else ``~/.cache/boucle``."""
    env = os.environ.get("BOUCLE_DATA")
    return Path(env) if env else Path.home() / ".cache" / "boucle"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _writable_dir(cache: Path) -> Path:
    if cache.exists() and not cache.is_dir():
        raise BoucleError(f"cache_dir: expected a writable folder, got {cache} (not a folder)")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BoucleError(f"cache_dir: cannot create {cache} ({e.strerror or type(e).__name__})") from None
    if not cache.is_dir() or not os.access(cache, os.W_OK | os.X_OK):
        raise BoucleError(f"cache_dir: expected a writable folder, got {cache}")
    return cache


def download(
    url: str,
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    filename: str | None = None,
    timeout: float = 30.0,
) -> Path:
    """The local path of ``url``'s content, downloading it into ``cache_dir`` if needed.

    A cached file is reused when it exists and (if ``sha256`` is given) its SHA-256
    matches; otherwise the file is fetched into a temporary file in the cache folder,
    checked, and renamed into place (never a half-written file under the final name).
    """
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(sha256)):
        raise BoucleError(f"sha256: expected 64 hex digits, got {sha256!r}")
    name = filename or os.path.basename(urllib.parse.urlsplit(url).path)
    if not name or name in (".", "..") or "/" in name or os.sep in name:
        raise BoucleError(f"filename: expected a plain file name, got {name!r} (from url {url!r})")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / name
    if target.is_file() and (sha256 is None or _sha256(target) == sha256.lower()):
        return target
    _writable_dir(cache)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=cache)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        h.update(block)
                        out.write(block)
            except urllib.error.HTTPError as e:
                e.close()  # the error holds the open response
                raise BoucleError(f"download: {url} answered HTTP {e.code} ({e.reason})") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", None) or e
                raise BoucleError(
                    f"download: cannot reach {url} ({reason}); offline? place the file at "
                    f"{target}" + (f" (sha256 {sha256})" if sha256 else "")
                ) from None
        digest = h.hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise BoucleError(f"download: checksum mismatch for {url}: expected sha256 {sha256.lower()}, got {digest}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target
