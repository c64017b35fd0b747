"""What the PyTorch timing references share: flags, the skip protocol and the timed loop.

    import torch_timing                          # after sys.path.insert(0, <repo>/bench)
    parser = torch_timing.parser(__doc__, batch=128, warmup=2)
    args = torch_timing.parse(parser, install_hint="install python3-torch ...")
    # torch_timing.torch is now importable PyTorch (else the script has exited 3)
    times, last = torch_timing.time_calls(step, args.warmup, args.repeat)

Users: bench/inference/reference_torch.py (read by bench_inference) and
bench/training/reference_torch.py (read by bench/training/compare.py). Both
print one JSON line; the protocol the callers rely on:
  --check      exit 0 and print {"framework": "PyTorch <version>"} when
               PyTorch is usable;
  no PyTorch   exit SKIP (3) printing one line "PyTorch reference unavailable:
               <reason>", so the caller skips the comparison instead of failing.
"""
import argparse
import json
import sys
import time

SKIP = 3

# PyTorch and the model definitions (bench/torch_models.py, beside this file);
# None with the reason when either does not import.
try:
    import torch
    import torch_models
except Exception as e:  # ImportError, or a broken install
    torch = None
    torch_models = None
    import_error = f"{type(e).__name__}: {e}".splitlines()[0]


def skip(reason):
    print(f"PyTorch reference unavailable: {reason}")
    sys.exit(SKIP)


def parser(doc, batch, warmup):
    """The flags both references take; `batch` and `warmup` are the defaults."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--check", action="store_true", help="is PyTorch usable? (exit 0 / 3)")
    p.add_argument("--model", choices=["lenet5", "resnet20"])
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=warmup)
    p.add_argument("--repeat", type=int, default=10)
    return p


def parse(p, install_hint):
    """Parses the flags and handles --check and a missing PyTorch (both exit);
    otherwise checks the values and sets PyTorch's intra-op threads and seed."""
    args = p.parse_args()
    if torch is None:
        skip(f"cannot import torch ({import_error}); {install_hint}")
    if args.check:
        print(json.dumps({"framework": f"PyTorch {torch.__version__}"}))
        sys.exit(0)
    if not args.model:
        p.error("--model is required without --check")
    if args.batch < 1 or args.threads < 1 or args.repeat < 1 or args.warmup < 0:
        p.error("--batch, --threads and --repeat must be >= 1, --warmup >= 0")
    # Debian's python3-torch defaults to one intra-op thread: set it explicitly.
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    return args


def time_calls(call, warmup, repeat):
    """Runs `call()` `warmup` times untimed, then `repeat` times timed (wall
    clock, perf_counter). Returns the times in ms and the last call's result."""
    for _ in range(warmup):
        call()
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - start) * 1e3)
    return times, result

