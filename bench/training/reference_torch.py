#!/usr/bin/python3
"""PyTorch reference for bench_training: one train step of the same model, batch and threads.

    reference_torch.py --check
        exit 0 and print {"framework": "..."} when PyTorch is usable;
        exit 3 with a one-line reason when it is not (compare.py then skips it).
    reference_torch.py --model resnet20 --batch 128 --threads 2 --warmup 2 --repeat 10
        print one JSON line {"model": ..., "times_ms": [...], "median_ms": ...,
        "images_per_s": ..., "train_flops_per_image": ...}.

The step is what bench_training times in Kiln's train_step: the forward in
training mode (batch norm on batch statistics), the cross-entropy loss, the
backward and a torch.optim.SGD step with momentum 0.9 (Kiln's default
TrainingOptions: no weight decay, no Nesterov), eager mode, on random normal
images with labels i % 10, learning rate 0 so that every step does the same
work (as bench_training). The models are bench/torch_models.py, the one
PyTorch copy of frontend/src/Models.cpp. torch.set_num_threads(threads) sets
the intra-op threads (Debian's python3-torch defaults to 1 here); run it with
OPENBLAS_NUM_THREADS=1 (compare.py does) so OpenBLAS adds no threads of its own.
Times are per step, wall clock, median over the repeats.
"""
import json
import os
import statistics
import sys

# The flags, the skip protocol and the timed loop: bench/torch_timing.py; the
# model definitions: bench/torch_models.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch_timing  # noqa: E402
from torch_timing import torch, torch_models  # noqa: E402  (None without PyTorch)


def main():
    args = torch_timing.parse(
        torch_timing.parser(__doc__, batch=128, warmup=2),
        install_hint="install python3-torch (scripts/install_deps.sh --with-reference)")
    import torch.nn.functional as F

    model = torch_models.build(args.model)
    flops = 3 * torch_models.mac_flops_per_image(model)  # forward + two backward GEMMs
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    images = torch.randn(args.batch, *torch_models.INPUT_SHAPE)
    labels = torch.arange(args.batch) % torch_models.NUM_CLASSES

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    times, loss = torch_timing.time_calls(step, args.warmup, args.repeat)
    if not torch.isfinite(loss):
        sys.exit(f"reference_torch: the loss is {loss.item()}")
    median = statistics.median(times)
    print(json.dumps({
        "framework": f"PyTorch {torch.__version__}",
        "model": args.model, "batch": args.batch, "threads": torch.get_num_threads(),
        "train_flops_per_image": flops, "times_ms": times, "median_ms": median,
        "images_per_s": args.batch / (median / 1e3),
    }))


if __name__ == "__main__":
    main()
