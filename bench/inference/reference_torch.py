#!/usr/bin/env python3
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
import argparse
import json
import os
import statistics
import sys
import time

SKIP = 3


def skip(reason):
    print(f"PyTorch reference unavailable: {reason}")
    sys.exit(SKIP)


# The model definitions: bench/torch_models.py, shared with the training
# reference and the alignment fixtures.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
try:
    import torch
    import torch_models
except Exception as e:  # ImportError, or a broken install
    torch = None
    _import_error = f"{type(e).__name__}: {e}".splitlines()[0]


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--model", choices=["lenet5", "resnet20"])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    if torch is None:
        skip(f"cannot import torch ({_import_error}); install python3-torch to compare")
    if args.check:
        print(json.dumps({"framework": f"PyTorch {torch.__version__}"}))
        return
    if not args.model:
        parser.error("--model is required without --check")
    if args.batch < 1 or args.threads < 1 or args.repeat < 1 or args.warmup < 0:
        parser.error("--batch, --threads and --repeat must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torch_models.build(args.model)
    x = torch.rand(args.batch, 1, 28, 28)
    module, mode = inference_module(model, x)
    times = []
    with torch.no_grad():
        for _ in range(args.warmup):
            module(x)
        for _ in range(args.repeat):
            start = time.perf_counter()
            y = module(x)
            times.append((time.perf_counter() - start) * 1e3)
    if tuple(y.shape) != (args.batch, 10):
        sys.exit(f"unexpected output shape {tuple(y.shape)}")
    print(json.dumps({
        "framework": f"PyTorch {torch.__version__} ({mode})",
        "model": args.model, "batch": args.batch, "threads": torch.get_num_threads(),
        "times_ms": times, "median_ms": statistics.median(times),
    }))


if __name__ == "__main__":
    main()
