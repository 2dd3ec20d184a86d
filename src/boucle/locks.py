"""Which process owns a file: exclusive lock files on outputs, and the owners of temporary files.

:class:`OutputLock` keeps two training runs out of one output. The lock is the
file ``<output>.lock``, created atomically (``O_CREAT | O_EXCL``: of two processes
creating it at once, exactly one succeeds) and holding JSON
``{"pid", "host", "token", "created"}``. Another run finding it is refused with
a message naming the owner. A lock whose owner is gone (same host, the process
no longer runs: a run killed by ``kill -9`` or a power cut) is *stale*: the next
run reports it and takes it over — by renaming it to a private name first, so of
two runs taking over the same stale lock only one succeeds. A lock from another
host cannot be checked and is never taken over.

:func:`pid_alive` and :func:`host` also tell which temporary files of an atomic
write (:func:`boucle.io.atomic_write_bytes`) were left by a process that died.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from pathlib import Path

from .errors import BoucleError

__all__ = ["OutputLock", "pid_alive", "host"]


def host() -> str:
    """This machine's host name."""
    return socket.gethostname() or "localhost"


def pid_alive(pid: int) -> bool:
    """True when a process ``pid`` runs on this machine (or may: one of another user counts as running)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _read(path: str) -> dict | None:
    """The owner recorded in a lock file; None when it is missing, unreadable or garbled."""
    try:
        with open(path, encoding="utf-8") as f:
            owner = json.loads(f.read(4096))
    except (OSError, ValueError):
        return None
    ok = isinstance(owner, dict) and isinstance(owner.get("pid"), int) and isinstance(owner.get("host"), str)
    return owner if ok else None


class OutputLock:
    """An exclusive lock on ``target`` (a file or folder that a run writes), held by this process.

    ``with OutputLock(path, what="--out") as lock:`` — or :meth:`acquire` / :meth:`release`.
    :attr:`note` says when a stale lock was taken over (the caller reports it).
    """

    def __init__(self, target: str | os.PathLike, what: str = "output"):
        self.target = Path(target)
        self.path = str(self.target) + ".lock"
        self.what = what
        self.note: str | None = None
        self._owner: dict | None = None

    def _refuse(self, owner: dict | None) -> BoucleError:
        if owner is None:
            who = "another process (its lock file is unreadable)"
        else:
            when = owner.get("created")
            since = (
                f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(when))}"
                if isinstance(when, (int, float)) and not isinstance(when, bool) and 0 < when < 1e11
                else ""
            )
            who = f"process {owner['pid']} on {owner['host']}{since}"
        return BoucleError(
            f"{self.what}: {str(self.target)!r} is in use by {who} (lock file {self.path!r}); "
            f"wait for that run to end, or delete the lock file if no run writes there"
        )

    def acquire(self) -> OutputLock:
        owner = {"pid": os.getpid(), "host": host(), "token": uuid.uuid4().hex, "created": time.time()}
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                other = _read(self.path)
                if other is None or other["host"] != host() or pid_alive(other["pid"]):
                    raise self._refuse(other) from None
                self._take_over(other)
                continue
            except OSError as e:
                raise BoucleError(
                    f"{self.what}: cannot create the lock file {self.path!r} ({e.strerror or type(e).__name__})"
                ) from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(json.dumps(owner))
                f.flush()
                os.fsync(f.fileno())
            self._owner = owner
            return self
        raise self._refuse(_read(self.path))

    def _take_over(self, stale: dict) -> None:
        """Remove the stale lock ``stale`` — only that one: it is renamed to a private name first and
        checked there, so a fresh lock another run made meanwhile is put back, not removed."""
        private = f"{self.path}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(self.path, private)
        except FileNotFoundError:
            return  # another run took it over first: try again
        moved = _read(private)
        if moved != stale:  # a live run's lock: give it back
            try:
                os.link(private, self.path)
            except OSError:
                pass
            os.remove(private)
            raise self._refuse(moved)
        os.remove(private)
        self.note = (
            f"removed the stale lock {self.path!r} of process {stale['pid']} on {stale['host']}, "
            f"which is no longer running"
        )

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._owner is not None

    def release(self) -> None:
        """Remove the lock file if this process still owns it."""
        if self._owner is not None and _read(self.path) == self._owner:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
        self._owner = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
