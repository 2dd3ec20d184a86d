"""Crafted model files: time and peak memory of ``boucle info`` on small files whose config lies.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/crafted_files.py [--timeout 60] [--cap-gb 4]

Each case starts from a small valid file (a CharModel, a Sequential or a Seq2Seq
saved by ``boucle.save``) and rewrites only the JSON config in its metadata (the
tensors stay those of the small model), as a hostile file would. Each file is
read by ``python -m boucle info FILE`` in its own process, limited to
``--timeout`` seconds and ``--cap-gb`` of address space (so that a loader that
builds the declared model fails instead of exhausting the machine); the table
gives the exit code, the wall time, the peak resident memory of that process
(``wait4``'s ``ru_maxrss``, the imports included: ~125 MB) and the last line it
printed on stderr. The seconds are those of the command, after the imports (a
killed process: the time until it was killed).

What loading should do: refuse each crafted file at once (exit 2, one line), in
well under 2 s and 300 MB, and load the valid ones.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np

import boucle
from boucle.data.vocab import Vocabulary
from boucle.layers import LSTM, Dense
from boucle.models.charlm import CharModel
from boucle.models.seq2seq import Seq2Seq


def rewrite(src: str, dst: str, edit) -> None:
    """Copy the safetensors file ``src`` to ``dst`` with ``edit(meta)`` applied to boucle's JSON metadata."""
    data = open(src, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["boucle"])
    edit(meta)
    header["__metadata__"]["boucle"] = json.dumps(meta)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def base_files(folder: str) -> dict[str, str]:
    """Small valid files of each model kind."""
    vocab = Vocabulary.from_text("".join(chr(c) for c in range(32, 127)) + "\n")
    char = CharModel(vocab, layers=1, hidden=96, embed=16, seed=0)
    char.compile("adam")
    seq = boucle.Sequential([LSTM(32, input_shape=(None, 8)), Dense(4)], seed=0)
    s2s = Seq2Seq(Vocabulary("abcdef", specials=True), units=16, embed_dim=8, attention="general", seed=0)
    paths = {}
    for name, model in (("char", char), ("seq", seq), ("s2s", s2s)):
        paths[name] = os.path.join(folder, f"{name}.safetensors")
        boucle.save(model, paths[name], include_optimizer=True)
    return paths


def set_config(**kv):
    def edit(meta):
        meta["config"].update(kv)

    return edit


def set_seq_units(units):
    def edit(meta):
        meta["config"]["layers"][0]["config"]["units"] = units

    return edit


CASES = [  # (name, base, edit)
    ("char valid", "char", None),
    ("char hidden=3000", "char", set_config(hidden=3000)),
    ("char layers=200 hidden=1000", "char", set_config(layers=200, hidden=1000)),
    ("char layers=1000000", "char", set_config(layers=1_000_000)),
    ("char carried_batch=10^7", "char", lambda m: m["config"]["training"].update(carried_batch=10**7)),
    ("sequential LSTM units=20000", "seq", set_seq_units(20_000)),
    ("seq2seq units=4000", "s2s", set_config(units=4000)),
    ("seq2seq num_layers=100000", "s2s", set_config(num_layers=100_000)),
]


#: ``boucle info PATH`` in this process, timed after the imports (which take ~2 s on a loaded 2-core machine).
CHILD = """
import sys, time
import boucle.cli
t0 = time.perf_counter()
try:
    code = boucle.cli.main(["info", sys.argv[1]])
finally:
    print(f"command seconds {time.perf_counter() - t0:.3f}", file=sys.stderr)
sys.exit(code)
"""


def run(path: str, timeout: float, cap_bytes: int) -> tuple[int, float, float, str]:
    """(exit code, seconds, peak RSS in MB, last stderr line) of ``boucle info path``
    (exit code -9: killed at the timeout; 1: a traceback, e.g. MemoryError at the memory cap)."""

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap_bytes, cap_bytes))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [sys.executable, "-c", CHILD, path], stdout=subprocess.DEVNULL, stderr=err, preexec_fn=limit, env=env
        )
        code = -9
        while True:  # wait4 (not communicate) to get this child's own ru_maxrss
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                code = os.waitstatus_to_exitcode(status)
                break
            if time.perf_counter() - t0 > timeout:
                os.kill(p.pid, signal.SIGKILL)
                _, _, usage = os.wait4(p.pid, 0)
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        p.returncode = 0  # reaped above
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    if lines and lines[-1].startswith("command seconds "):
        seconds = float(lines.pop().split()[-1])
    return code, seconds, usage.ru_maxrss / 1024, (lines[-1] if lines else "")[:110]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--cap-gb", type=float, default=4.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bases = base_files(tmp)
        print(f"{'case':<32} {'bytes':>8} {'exit':>7} {'seconds':>8} {'peak MB':>8}  stderr")
        for name, base, edit in CASES:
            path = bases[base] if edit is None else os.path.join(tmp, name.replace(" ", "_") + ".safetensors")
            if edit is not None:
                rewrite(bases[base], path, edit)
            code, s, mb, last = run(path, args.timeout, int(args.cap_gb * 2**30))
            print(f"{name:<32} {os.path.getsize(path):>8,} {code!s:>7} {s:>8.2f} {mb:>8.0f}  {last}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
