"""Where trials run: in this process, in local worker processes, or on a Dask cluster.

- :class:`SerialBackend` — one trial at a time in this process (the reference);
- :class:`ProcessBackend` — ``workers`` local processes (``concurrent.futures``, started
  with ``spawn``); the default, one per core;
- :class:`DaskBackend` — ``dask.distributed``: an existing cluster (``scheduler=
  "tcp://HOST:PORT"``) or a ``LocalCluster`` of ``workers`` processes with one thread
  each. Dask is the optional extra ``boucle[distributed]``.

Every backend runs :func:`boucle.search.trial.execute`, which pins BLAS to one thread,
so the backends give bit-identical results. :func:`run_tasks` drives any of them:
a bounded number of tasks in flight, results as they finish, and a worker that dies
mid-task (killed, out of memory) costs only a rerun — Dask reschedules the task itself
(up to its ``allowed-failures``, then ``KilledWorker``); a broken process pool is
restarted and its unfinished tasks resubmitted (up to ``max_retries`` deaths per task).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import BoucleError

__all__ = [
    "Backend",
    "SerialBackend",
    "ProcessBackend",
    "DaskBackend",
    "WorkerDied",
    "make_backend",
    "run_tasks",
    "map_ordered",
    "DISTRIBUTED_EXTRA",
]

DISTRIBUTED_EXTRA = "pip install 'boucle[distributed]'"


#: the environment of a worker process, as Dask's nanny sets it: its BLAS and OpenMP libraries start
#: with one thread (a limit set at run time alone leaves each OpenBLAS's own thread pool in place).
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class WorkerDied(RuntimeError):
    """A task's worker process died (killed, out of memory) more often than the retries allow."""


def _quiet_worker() -> None:
    """Worker start: Ctrl-C is the coordinator's to handle (it stops the workers), and one BLAS thread."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


class Backend:
    """The interface :func:`run_tasks` drives."""

    name = "backend"
    workers = 1
    prefetch = 2  #: tasks in flight per worker (a queued task starts as soon as a worker frees)

    def submit(self, fn: Callable, *args: Any) -> Any:
        raise NotImplementedError

    def wait(self, futures: Sequence[Any]) -> tuple[list, list]:
        """(done, not done) once at least one of ``futures`` is done."""
        raise NotImplementedError

    def outcome(self, future: Any) -> tuple[bool, Any]:
        """(True, result) or (False, exception)."""
        try:
            return True, future.result()
        except Exception as e:  # noqa: BLE001 - reported to the caller
            return False, e

    def died(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the task's worker died (the task should be retried)."""
        return False

    def restart(self) -> None:
        """Replace dead workers (after :meth:`died`)."""

    def cancel(self, futures: Sequence[Any]) -> None:
        for f in futures:
            f.cancel()

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SerialBackend(Backend):
    """Each task runs in this process when submitted."""

    name = "serial"
    prefetch = 1

    def submit(self, fn, *args):
        f: cf.Future = cf.Future()
        try:
            f.set_result(fn(*args))
        except Exception as e:  # noqa: BLE001
            f.set_exception(e)
        return f

    def wait(self, futures):
        return list(futures), []


class ProcessBackend(Backend):
    """``workers`` local processes (default: one per core), started at once with one BLAS thread each
    and Ctrl-C ignored (the coordinator stops them)."""

    name = "processes"

    def __init__(self, workers: int | None = None):
        self.workers = int(workers or os.cpu_count() or 1)
        if self.workers < 1:
            raise BoucleError(f"workers: expected an int >= 1, got {workers!r}")
        self._pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        """Start every worker now, with Ctrl-C ignored from their first instruction (a spawned
        process keeps an ignored signal ignored), so an interruption never hits a worker's imports."""
        main = threading.current_thread() is threading.main_thread()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        saved = {k: os.environ.get(k) for k in _ONE_THREAD}
        os.environ.update(_ONE_THREAD)
        try:
            pool = cf.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_quiet_worker
            )
            for _ in range(self.workers):  # a task per worker: the pool spawns them all now
                pool.submit(int)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            if main:
                signal.signal(signal.SIGINT, old)
        return pool

    def submit(self, fn, *args):
        return self._pool.submit(fn, *args)

    def wait(self, futures):
        done, pending = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return list(done), list(pending)

    def died(self, exc):
        return isinstance(exc, BrokenProcessPool)

    def restart(self):
        self._stop()
        self._pool = self._start()

    def _stop(self) -> None:
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:  # a running task is not waited for
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)

    def close(self):
        self._stop()


def _import_distributed(why: str):
    try:
        import distributed
    except ImportError:
        raise BoucleError(f"{why} needs Dask distributed, which is not installed: {DISTRIBUTED_EXTRA}") from None
    return distributed


class DaskBackend(Backend):
    """A ``dask.distributed`` client: to ``scheduler`` (an address), or to a new ``LocalCluster`` of
    ``workers`` processes with one thread each (closed by :meth:`close`)."""

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int | None = None, connect_timeout: float = 10.0):
        distributed = _import_distributed("--scheduler" if scheduler else "the dask backend")
        self._distributed, self._cluster = distributed, None
        if scheduler is not None:
            if not isinstance(scheduler, str) or "://" not in scheduler:
                raise BoucleError(f"scheduler: expected an address such as tcp://HOST:PORT, got {scheduler!r}")
            try:
                self.client = distributed.Client(scheduler, timeout=connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as e:
                raise BoucleError(
                    f"scheduler: cannot reach {scheduler} within {connect_timeout:g} s ({type(e).__name__})"
                ) from None
            self.address = scheduler
        else:
            n = int(workers or os.cpu_count() or 1)
            self._cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
                silence_logs=50,
            )
            self.client = distributed.Client(self._cluster, set_as_default=False)
            self.address = self._cluster.scheduler_address
        self.workers = max(1, sum(self.client.nthreads().values()))

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait(self, futures):
        with self.client.as_current():
            done, pending = self._distributed.wait(futures, return_when="FIRST_COMPLETED")
        return list(done), list(pending)

    def outcome(self, future):
        try:
            return True, future.result()
        except Exception as e:  # noqa: BLE001
            return False, e

    def cancel(self, futures):
        if futures:
            self.client.cancel(list(futures), force=True)

    def close(self):
        try:
            self.client.close()
        finally:
            if self._cluster is not None:
                self._cluster.close()

    def describe(self) -> str:
        where = "LocalCluster" if self._cluster is not None else self.address
        return f"dask {where} ({self.workers} worker thread{'s' if self.workers != 1 else ''})"


def make_backend(
    backend: str | None = None, workers: int | None = None, scheduler: str | None = None, connect_timeout: float = 10.0
) -> Backend:
    """A backend by name (``serial``, ``processes``, ``dask``); ``scheduler`` implies ``dask``;
    default: ``processes`` with ``workers`` (one per core)."""
    if scheduler is not None:
        if backend not in (None, "dask"):
            raise BoucleError(f"backend: a scheduler address needs backend 'dask', got {backend!r}")
        return DaskBackend(scheduler=scheduler, connect_timeout=connect_timeout)
    backend = backend or "processes"
    if backend == "serial":
        return SerialBackend()
    if backend == "processes":
        return ProcessBackend(workers)
    if backend == "dask":
        return DaskBackend(workers=workers)
    raise BoucleError(f"backend: expected one of ['serial', 'processes', 'dask'], got {backend!r}")


def run_tasks(
    backend: Backend,
    fn: Callable,
    arglist: Sequence[tuple],
    on_done: Callable[[int, bool, Any], None],
    *,
    inflight: int | None = None,
    max_retries: int = 3,
) -> None:
    """``fn(*args)`` for each ``args`` on ``backend``; ``on_done(index, ok, result or exception)`` as tasks finish.

    At most ``inflight`` tasks (default ``backend.prefetch * workers``) are out at once, so an
    interruption cancels little. On Ctrl-C (or any exception), tasks that already finished are
    still handed to ``on_done``, the rest are cancelled, and the exception propagates.
    """
    limit = max(1, inflight or backend.prefetch * backend.workers)
    todo = list(range(len(arglist)))[::-1]
    running: dict[Any, int] = {}
    deaths = [0] * len(arglist)

    def finish(f: Any) -> bool:
        """Hand a finished task to ``on_done``; False when its worker died (resubmit it)."""
        i = running.pop(f)
        ok, value = backend.outcome(f)
        if not ok and backend.died(value):
            deaths[i] += 1
            if deaths[i] <= max_retries:
                todo.append(i)
                return False
            value = WorkerDied(f"its worker died {deaths[i]} times")
        on_done(i, ok, value)
        return True

    try:
        while todo or running:
            while todo and len(running) < limit:
                i = todo.pop()
                running[backend.submit(fn, *arglist[i])] = i
            done, _ = backend.wait(list(running))
            if not all([finish(f) for f in done]):  # a broken pool loses every task it held
                for f in list(running):
                    if not (f.done() and backend.outcome(f)[0] and finish(f)):
                        todo.append(running.pop(f))
                todo.sort(reverse=True)
                backend.restart()
    except BaseException:
        for f in [f for f in running if f.done()]:
            if backend.outcome(f)[0]:
                finish(f)
        raise
    finally:
        if running:
            backend.cancel(list(running))


def map_ordered(
    backend: Backend, fn: Callable, arglist: Sequence[tuple], on_result: Callable[[int, Any], None] | None = None
) -> list:
    """``[fn(*args) for args in arglist]`` on ``backend``; ``on_result(i, result)`` is called in
    order of ``i`` as soon as results ``0..i`` are in. A task's exception is re-raised."""
    results: dict[int, Any] = {}
    nxt = [0]

    def done(i: int, ok: bool, value: Any) -> None:
        if not ok:
            raise value
        results[i] = value
        while nxt[0] in results:
            if on_result is not None:
                on_result(nxt[0], results[nxt[0]])
            nxt[0] += 1

    run_tasks(backend, fn, arglist, done)
    return [results[i] for i in range(len(arglist))]
