#!/usr/bin/env python3
"""PyTorch eager on the GPU, for bench_cuda: the same models, batch and step.

    torch_cuda_bench.py --check
        exit 0 and print {"framework": "..."} when PyTorch can use a CUDA GPU;
        exit 3 with a one-line reason when it cannot (bench_cuda then skips it).
    torch_cuda_bench.py --model resnet20 --mode train --batch 128 --warmup 5 --repeat 20
        print one JSON line {"model", "mode", "batch", "median_ms", "times_ms", ...}.

train: one SGD step (momentum 0.9, lr 0 as in bench_cuda so every step does the
same work) of the label-smoothing-free cross-entropy loss, model.train()
(batch norm with batch statistics), zero_grad(set_to_none=True), forward,
backward, step; infer: model.eval() under torch.no_grad(). Eager mode, FP32
(TF32 off, as Kiln computes in FP32), cudnn.benchmark on (its fastest
convolution algorithms after warm-up). Each timed iteration ends with
torch.cuda.synchronize(). The models are bench/torch_models.py's.
"""
import argparse
import json
import os
import statistics
import sys
import time

SKIP = 3


def skip(reason):
    print(f"PyTorch CUDA reference unavailable: {reason}")
    sys.exit(SKIP)


try:
    import torch
    from torch import nn
except Exception as e:  # ImportError, or a broken install
    skip(f"cannot import torch ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch_models  # noqa: E402  (bench/torch_models.py: the one PyTorch twin of each model)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--model", choices=["lenet5", "resnet20"])
    parser.add_argument("--mode", choices=["train", "infer"], default="train")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    if not torch.cuda.is_available():
        skip(f"PyTorch {torch.__version__} sees no CUDA GPU (a CPU-only build, or no driver)")
    device = torch.device("cuda")
    if args.check:
        print(json.dumps({"framework": f"PyTorch {torch.__version__}",
                          "gpu": torch.cuda.get_device_name(0)}))
        return
    if not args.model:
        parser.error("--model is required without --check")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = torch_models.build(args.model).to(device)
    x = torch.randn(args.batch, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (args.batch,), device=device)
    if args.mode == "train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), labels)
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(x)

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        step()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({
        "framework": f"PyTorch {torch.__version__} eager", "model": args.model,
        "mode": args.mode, "batch": args.batch, "times_ms": times,
        "median_ms": statistics.median(times),
    }))


if __name__ == "__main__":
    main()
