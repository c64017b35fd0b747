#!/usr/bin/python3
"""PyTorch reference for bench_inference: the same models, batch and threads.

    reference_torch.py --check
        exit 0 and print {"framework": "..."} when PyTorch is usable;
        exit 3 with a one-line reason when it is not (the benchmark then skips it).
    reference_torch.py --model resnet20 --batch 128 --threads 2 --warmup 3 --repeat 20
        print one JSON line {"model": ..., "times_ms": [...], "median_ms": ...}.

The models are bench/torch_models.py, which mirrors frontend/src/Models.cpp
layer for layer (same shapes, same FLOPs, same parameter names). The
inference path is the one that is fastest in Debian's python3-torch 1.13:
torch.jit.trace + freeze + optimize_for_inference, under torch.no_grad(), with
torch.set_num_threads(threads) (that build defaults to 1 intra-op thread).
Run it with OPENBLAS_NUM_THREADS=1 so OpenBLAS does not add threads of its own;
bench_inference does.
"""
import json
import os
import statistics
import sys

# The flags, the skip protocol and the timed loop: bench/torch_timing.py; the
# model definitions: bench/torch_models.py, shared with the training reference
# and the alignment fixtures.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch_timing  # noqa: E402
from torch_timing import torch, torch_models  # noqa: E402  (None without PyTorch)


def inference_module(model, example):
    """The fastest CPU inference form of `model` in this PyTorch, and its name."""
    model.eval()
    with torch.no_grad():
        try:
            traced = torch.jit.trace(model, example)
            frozen = torch.jit.freeze(traced)
            if hasattr(torch.jit, "optimize_for_inference"):
                frozen = torch.jit.optimize_for_inference(frozen)
            return frozen, "jit.freeze+optimize_for_inference"
        except Exception:  # an unusual build: eager mode still measures something
            return model, "eager"


def main():
    args = torch_timing.parse(torch_timing.parser(__doc__, batch=1, warmup=3),
                              install_hint="install python3-torch to compare")
    model = torch_models.build(args.model)
    x = torch.rand(args.batch, 1, 28, 28)
    module, mode = inference_module(model, x)
    with torch.no_grad():
        times, y = torch_timing.time_calls(lambda: module(x), args.warmup, args.repeat)
    if tuple(y.shape) != (args.batch, 10):
        sys.exit(f"unexpected output shape {tuple(y.shape)}")
    print(json.dumps({
        "framework": f"PyTorch {torch.__version__} ({mode})",
        "model": args.model, "batch": args.batch, "threads": torch.get_num_threads(),
        "times_ms": times, "median_ms": statistics.median(times),
    }))


if __name__ == "__main__":
    main()
