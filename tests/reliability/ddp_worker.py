"""One rank of the two-process CPU DDP test (run as ``python -m tests.reliability.ddp_worker``, see
test_distributed.py).

Builds the ghnerf-tiny pipeline with world_size 2 inside a gloo process group, trains a few steps with nerfstudio's
Optimizers, and saves which training targets this rank drew and its final parameters.
"""

import argparse
import json
from pathlib import Path

import torch
import torch.distributed as dist
from nerfstudio.engine.optimizers import Optimizers

from tests.reliability.helpers import tiny_method_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=args.rank, world_size=2)

    config = tiny_method_config(args.data)
    # CPU processes on one machine: each is local rank 0..1 of a world of 2 (as nerfstudio's launcher numbers them).
    pipeline = config.pipeline.setup(device="cpu", test_mode="val", world_size=2, local_rank=args.rank)
    optimizers = Optimizers(config.optimizers, pipeline.get_param_groups())
    torch.save({n: p.detach().clone() for n, p in pipeline.model.named_parameters()}, args.out / f"init_{args.rank}.pt")
    rows = []
    datamanager = pipeline.datamanager
    original_next_train = datamanager.next_train

    def recording_next_train(step):
        camera, batch = original_next_train(step)
        rows.append(batch.row)
        return camera, batch

    datamanager.next_train = recording_next_train  # type: ignore[method-assign]
    pipeline.train()
    for step in range(args.steps):
        optimizers.zero_grad_all()
        _, losses, _ = pipeline.get_train_loss_dict(step)
        sum(losses.values()).backward()
        optimizers.optimizer_step_all()
    params = {name: p.detach().clone() for name, p in pipeline.model.named_parameters()}
    torch.save(params, args.out / f"params_{args.rank}.pt")
    wrapped = type(pipeline._model).__name__
    (args.out / f"rank_{args.rank}.json").write_text(
        json.dumps({"rows": rows, "rank": datamanager.rank, "num_ranks": datamanager.num_ranks, "wrapped": wrapped})
    )
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
