"""`visiontk launch`: N local worker processes on 127.0.0.1 with free ports and TF_CONFIG.

Logs are streamed with a `[worker i]` prefix; when one worker fails (or is killed) the others are
stopped and the launcher exits 2 naming it (with the worker's own error line when it printed one);
otherwise it returns the chief's exit code. The run folder is decided once, here, before any worker
starts (`visiontk.run.place_run`: a finished run is kept and the job goes to the next free numbered
folder), and passed to every worker as `output=`; rerunning the same launch resumes from the chief's
last backup. Workers are stopped with SIGTERM (they unwind and
remove their temporary folders, visiontk.train.loop.sigterm_unwinds), then SIGKILL after 10 s; each
worker's TMPDIR is a folder of the launcher's, removed at the end even after a `kill -9`. SIGTERM to
the launcher stops the workers as Ctrl-C does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Sequence


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def tf_config(ports: Sequence[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _stream(proc, prefix: str, echo: Callable[[str], None], lock: threading.Lock,
            errors: dict) -> None:
    for line in proc.stdout:
        with lock:
            echo(f"{prefix} {line.rstrip()}")
        if line.startswith("error: "):
            errors[proc.pid] = line[len("error: "):].strip()    # the worker's own one-line error


def place(recipe, overrides: Sequence[str], *, force: bool, echo: Callable[[str], None]) -> list:
    """The overrides that put every worker in the same run folder, decided once before they start
    (they would otherwise each pick a folder; a finished run goes to the next numbered one)."""
    from visiontk.recipe import load_recipe
    from visiontk.recipe.lines import format_override
    from visiontk.run import place_run

    r = load_recipe(recipe, [*overrides, "distribute.strategy=multi_worker"])
    where = place_run(r.output, r.to_yaml(), force=force)
    if where.note:
        echo(f"[launch] {where.note.removeprefix('visiontk: ')}")
    if str(where.run.path) == str(r.output):
        return list(overrides)
    return [*overrides, format_override("output", str(where.run.path))]    # read back exactly


def launch(recipe: str, overrides: Sequence[str], workers: int, *, force: bool = False,
           echo: Callable[[str], None] = print, timeout: float | None = None) -> int:
    """Run `visiontk train RECIPE OVERRIDES` as `workers` processes of one multi-worker job."""
    from visiontk.train.loop import sigterm_unwinds

    scratch = tempfile.mkdtemp(prefix="visiontk-launch-")
    try:
        with sigterm_unwinds(stopping="launch"):
            return _run(recipe, overrides, workers, force=force, echo=echo, timeout=timeout,
                        scratch=scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(recipe, overrides, workers, *, force, echo, timeout, scratch) -> int:
    from visiontk.errors import RunError
    from visiontk.train.loop import Terminated

    overrides = place(recipe, overrides, force=force, echo=echo)
    ports = free_ports(workers)
    lock = threading.Lock()
    procs, threads, errors = [], [], {}
    args = ["train", str(recipe), *overrides, "distribute.strategy=multi_worker"]
    if force:
        args.append("--force")
    echo(f"[launch] {workers} workers on 127.0.0.1 ports {', '.join(map(str, ports))}")
    failed = (-2, "interrupted")              # stop whatever started if anything else escapes
    try:
        for i in range(workers):
            procs.append(_start_worker(args, tf_config(ports, i), os.path.join(scratch, f"worker{i}")))
            echo(f"[launch] worker {i} pid {procs[-1].pid}")
            threads.append(threading.Thread(target=_stream, daemon=True,
                                            args=(procs[-1], f"[worker {i}]", echo, lock, errors)))
            threads[-1].start()
        failed = _wait(procs, timeout)
    except KeyboardInterrupt:
        failed = (-2, "interrupted")
    except Terminated:
        failed = (-2, "stopped by SIGTERM")
    finally:
        if failed is not None:
            _stop(procs)
        for t in threads:
            t.join(timeout=5)
    if failed is None:
        return procs[0].returncode
    index, code = failed
    if index == -1:
        raise RunError(f"launch: workers did not finish within {timeout:.0f} s; stopped all of them")
    if index == -2:
        raise RunError(f"launch: {code}; stopped all workers (rerun the same command to resume)")
    said = errors.get(procs[index].pid)
    if said is not None:               # the worker's own reason (a bad recipe, a diverged loss, ...)
        raise RunError(f"launch: worker {index} failed: {said} (stopped the other workers)")
    raise RunError(f"launch: worker {index} failed ({_describe(code)}); stopped the other workers. "
                   f"Rerun the same command to resume from the last saved epoch")


def _start_worker(args, config: str, tmp: str):
    os.mkdir(tmp)                             # the worker's TMPDIR, removed by `launch` in any case
    env = {**os.environ, "TF_CONFIG": config, "PYTHONUNBUFFERED": "1", "TMPDIR": tmp,
           "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
    return subprocess.Popen([sys.executable, "-m", "visiontk", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            bufsize=1, start_new_session=True)


def _wait(procs, timeout):
    """None when every worker exited 0, else (index, code) of the first failure; (-1, None) on
    timeout."""
    start = time.monotonic()
    while True:
        codes = [p.poll() for p in procs]
        bad = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
        if bad:
            return bad[0]
        if all(c == 0 for c in codes):
            return None
        if timeout is not None and time.monotonic() - start > timeout:
            return (-1, None)
        time.sleep(0.2)


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
