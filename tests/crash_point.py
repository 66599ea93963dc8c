"""The kill tests' crash point, kept out of the application: run a child as

    python -m tests.crash_point SUFFIX[@N] -m engine.cli ARGS...      (or: ... -c CODE ARGS...)

and it stops right before its N-th (default first) swap of a finished file or folder whose path ends
with SUFFIX, after printing PAUSED on stderr, so that the test can SIGKILL it at the worst moment.
It replaces `engine.atomic.before_swap`, which the writers call and which does nothing in the app.
"""
from __future__ import annotations

import runpy
import sys
import time

import engine.atomic

PAUSED = "cladmop-test: paused before replacing"


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
