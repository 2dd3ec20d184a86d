"""Objectives for tests/test_search.py, named by path in the specs (``objective = "<this file>:quadratic"``).

Each is a pure function of (config, seed) except for the side effects the tests count
(a line appended per call) or provoke once (a worker killed, an interruption), each
guarded by a marker file created atomically so that it happens exactly once.
"""

import os
import signal
import time

import numpy as np

from boucle.search.recipes import esn_mackey_glass


def _log(config):
    if config.get("calls"):
        with open(config["calls"], "a") as f:
            f.write(f"{config['x']}\n")


def _first(marker):
    """True for the first caller only (the marker file did not exist)."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def quadratic(config, seed):
    """(x - 0.3)^2 plus seed-dependent noise; raises for x > 0.85, NaN for x < 0.05, sleeps on request."""
    _log(config)
    x = config["x"]
    if config.get("interrupt_at") is not None and x == config["interrupt_at"] and _first(config["marker"]):
        raise KeyboardInterrupt
    if config.get("sleep"):
        end = time.perf_counter() + config["sleep"]
        while time.perf_counter() < end:
            time.sleep(0.01)
    if x > 0.85:
        raise ValueError(f"x too large: {x}")
    if x < 0.05:
        return {"loss": float("nan")}
    noise = np.random.default_rng(seed).normal(scale=1e-3)
    return {"loss": (x - 0.3) ** 2 + noise, "x_seen": x}


def esn_kill_once(config, seed):
    """The ESN recipe; the first trial with ``kill`` set kills its own worker process (SIGKILL)."""
    config = dict(config)
    marker = config.pop("marker")
    if config.pop("kill") and _first(marker):
        os.kill(os.getpid(), signal.SIGKILL)
    return esn_mackey_glass(config, seed)
