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
import argparse
import json
import os
import statistics
import sys
import time

SKIP = 3

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
try:
    import torch
    import torch.nn.functional as F

    import torch_models
except Exception as e:  # ImportError, or a broken install
    torch = None
    _import_error = f"{type(e).__name__}: {e}".splitlines()[0]


def skip(reason):
    print(f"PyTorch reference unavailable: {reason}")
    sys.exit(SKIP)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="is PyTorch usable? (exit 0 / 3)")
    parser.add_argument("--model", choices=["lenet5", "resnet20"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    if torch is None:
        skip(f"cannot import torch ({_import_error}); install python3-torch "
             "(scripts/install_deps.sh --with-reference)")
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

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - start) * 1e3)
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
