"""Several processes on one job: the commands run unchanged under `torchrun` or `accelerate launch`.

A launcher starts N copies of `cladmop ...` and tells each its place through the environment (RANK,
WORLD_SIZE, LOCAL_RANK; both launchers set them). The engine then:

- scores and caches a share of the records in each process (`shard`: every N-th, so lengths balance) and
  gathers the results back in input order (`gather_in_order`): scoring is embarrassingly parallel;
- trains data-parallel: every process takes its slice of each batch and the gradients are summed across
  processes before each step (what torch's DistributedDataParallel does), so all copies stay identical
  and the step is that of the whole batch (`engine/training/loop.py`);
- lets one process, rank 0, write results and checkpoints (`is_writer`); the others write nothing the user
  sees. A checkpoint holds one copy of the weights, so a run resumes with any number of processes.

One process (no launcher) is world size 1 and every function here is a no-op. CPU processes talk over
gloo, CUDA ones over NCCL, each on the GPU of its LOCAL_RANK. docs/scale-out.md has the commands.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Workers:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1


def workers() -> Workers:
    """This process's place, from the launcher's environment (one process without one)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Workers()
    return Workers(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def is_writer() -> bool:
    return workers().is_writer


def start(device=None) -> None:
    """Join the launcher's process group once: gloo for CPU tensors, and NCCL for CUDA ones when this
    process runs on its GPU; no-op for one process."""
    import torch
    import torch.distributed as dist

    if not workers().parallel or dist.is_initialized():
        return
    if getattr(device, "type", "cpu") == "cuda":
        torch.cuda.set_device(device)
        dist.init_process_group("cpu:gloo,cuda:nccl")
    else:
        dist.init_process_group("gloo")


def local_device(choice: str) -> str:
    """Under a launcher, "auto"/"cuda" mean this process's own GPU (cuda:LOCAL_RANK)."""
    import torch

    if workers().parallel and choice in ("auto", "cuda") and torch.cuda.is_available():
        return f"cuda:{workers().local_rank}"
    return choice


@contextlib.contextmanager
def private_output(out: Path | None) -> Iterator[Path | None]:
    """Where this process writes a training run's model folder: `out` for rank 0; a temporary folder,
    removed afterwards, for the others (they train the same weights in step, nobody reads theirs)."""
    if workers().is_writer:
        yield out
        return
    with tempfile.TemporaryDirectory(prefix=f"cladmop-rank{workers().rank}-") as tmp:
        yield Path(tmp) / "model"


def shard(items: Sequence[T]) -> list[T]:
    """This process's share: every world-th item from its rank."""
    w = workers()
    return list(items[w.rank::w.world])


def gather_in_order(mine: list[R], total: int) -> list[R]:
    """Every process's `shard` results, back in the order of the items they came from (all processes
    get the whole list)."""
    w = workers()
    if not w.parallel:
        return mine
    import torch.distributed as dist

    start()
    parts: list = [None] * w.world
    dist.all_gather_object(parts, mine)
    out: list = [None] * total
    for rank, part in enumerate(parts):
        out[rank::w.world] = part
    return out


def map_in_order(fn: Callable[[list[T]], list[R]], items: Sequence[T]) -> list[R]:
    """`fn(items)`, its work split across the processes: each maps its shard, all get the whole result."""
    return gather_in_order(fn(shard(items)), len(items))


def sum_across(values: list[float]) -> list[float]:
    """Element-wise sums over the processes (e.g. the weighted batch losses)."""
    if not workers().parallel:
        return values
    import torch
    import torch.distributed as dist

    start()
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def sum_gradients(parameters) -> None:
    """Add up every parameter's gradient across processes (each computed on its slice of the batch)."""
    if not workers().parallel:
        return
    import torch
    import torch.distributed as dist

    start()
    for p in parameters:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)


def from_writer(value: T) -> T:
    """Rank 0's `value` in every process (e.g. the state a resumed run starts from)."""
    if not workers().parallel:
        return value
    import torch.distributed as dist

    start()
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def finish() -> None:
    """Leave the process group together: every process waits for the others, then it is taken down.
    A process that exits while another is still in a collective can abort ("terminate called without an
    active exception"), so the CLI calls this when a command is done."""
    import torch.distributed as dist

    if workers().parallel and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def wait_for_all() -> None:
    if workers().parallel:
        import torch.distributed as dist

        start()
        dist.barrier()
