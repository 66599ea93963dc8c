"""The kill tests' crash point, kept out of the application: run a child as

    python -m tests.crash_point SUFFIX[@N] -m engine.cli ARGS...      (or: ... -c CODE ARGS...)

and it stops right before its N-th (default first) swap of a finished file or folder whose path ends
with SUFFIX, after printing PAUSED on stderr, so that the test can SIGKILL it at the worst moment.
It replaces `engine.atomic.before_swap`, which the writers call and which does nothing in the app.
"""
from __future__ import annotations

import os
import queue
import runpy
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import engine.atomic

ROOT = Path(__file__).resolve().parents[1]

PAUSED = "cladmop-test: paused before replacing"


class Child:
    """A Python child whose output lines are read in the background, so the test can wait for one;
    `pause` ("suffix[@n]") stops it before that swap (tests/crash_point.py)."""

    def __init__(self, args: list[str], pause: str = ""):
        crash_point = ["-m", "tests.crash_point", pause] if pause else []
        self.proc = subprocess.Popen([sys.executable, *crash_point, *args], cwd=ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"child ended (rc {self.proc.wait()}) before {text!r}:\n" + "\n".join(self.seen[-30:]))
            self.seen.append(line)
            if text in line:
                return line
        self.kill()
        raise AssertionError(f"no {text!r} within {timeout} s:\n" + "\n".join(self.seen[-30:]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def install(wanted: str) -> None:
    """Make the `wanted` ("suffix" or "suffix@n") swap sleep instead of happening."""
    suffix, _, nth = wanted.partition("@")
    seen = [0]

    def pause(target) -> None:
        if str(target).endswith(suffix):
            seen[0] += 1
            if seen[0] == int(nth or 1):
                print(f"{PAUSED} {target}", file=sys.stderr, flush=True)
                time.sleep(600)

    engine.atomic.before_swap = pause


def main(argv: list[str]) -> None:
    wanted, how, what, *rest = argv
    install(wanted)
    if how == "-m":
        sys.argv = [what, *rest]
        runpy.run_module(what, run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c", *rest]
        exec(compile(what, "<string>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main(sys.argv[1:])
