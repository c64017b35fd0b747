#!/usr/bin/python3
"""Trains the PyTorch twin of a Kiln model with the train driver's recipe; top-1 on the test set per epoch.

    bench/training/train_reference_torch.py --model resnet20 --epochs 25 --batch-size 64 \\
        --lr 0.05 --nesterov True --weight-decay 5e-4 --lr-scheduler cosine --warmup-epochs 1 \\
        --seed 42 --threads 2 --log-file out/resnet20_torch.log
    bench/training/train_reference_torch.py --model lenet5 --epochs 1 --max-iters 20   # smoke test

The accuracy reference for the README's table: the same model
(bench/torch_models.py, Kiln's initialisation in distribution), data,
preprocessing, augmentation, optimiser and schedule as tools/train/train.cpp,
with the same flags and defaults:
  - data: Fashion-MNIST IDX (gzip) files in --data-path (Debian's
    dataset-fashion-mnist), x / 255 normalised with mean 0.2860, std 0.3530;
    60,000 training images shuffled every epoch, the last batch kept (not
    dropped); evaluation on the 10,000 test images after every epoch;
  - augmentation (training only): RandomCrop(28, padding=2) with the padding
    at pixel value 0, then RandomHorizontalFlip(0.5);
  - loss: cross-entropy with --label-smoothing (also in the evaluation loss,
    as Kiln's eval_step);
  - optimiser: torch.optim.SGD (momentum, Nesterov, coupled weight decay;
    --no-decay-bn-bias exempts rank-1 parameters), Adam or AdamW (betas 0.9,
    0.999, eps 1e-8);
  - learning rate set every iteration: linear warm-up over --warmup-epochs
    (lr * (step + 1) / warmup_iters), then constant, StepLR per epoch (--lr-step-size,
    --lr-gamma) or cosine annealing to 0 over the remaining iterations.
The random streams differ from Kiln's (numpy's PCG64 for shuffling and
augmentation, torch's generator for the weights), so runs agree in
distribution, not bit for bit; one seed gives the same run every time.
The "acc" of a log line is the top-1 of that iteration's batch in training
mode (Kiln's log measures it with infer just before the step).
"""
import argparse
import math
import os
import sys
import time

# Before torch loads OpenBLAS: torch's own threads do the work.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

import fashion_mnist  # noqa: E402

try:
    import torch
    import torch.nn.functional as F

    import torch_models
except Exception as e:  # ImportError, or a broken install
    sys.exit(f"train_reference_torch: cannot import torch ({type(e).__name__}: {e}); install "
             "python3-torch (scripts/install_deps.sh --with-reference)")

PAD = 2


def parse_bool(text):
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True/False, got '{text}'")


def learning_rate(args, step, epoch, warmup_iters, total_iters):
    """tools/train/train.cpp's Schedule::at."""
    if step < warmup_iters:
        return args.lr * (step + 1) / warmup_iters
    if args.lr_scheduler == "step":
        return args.lr * args.lr_gamma ** (epoch // max(1, args.lr_step_size))
    if args.lr_scheduler == "cosine":
        span = max(1, total_iters - warmup_iters)
        pos = min(step - warmup_iters, span)
        return args.lr * 0.5 * (1.0 + math.cos(math.pi * pos / span))
    return args.lr


def augment(padded, index, rng):
    """RandomCrop(28, padding=2) + RandomHorizontalFlip(0.5) of padded[index] ([B, 32, 32])."""
    n = len(index)
    top = rng.integers(0, 2 * PAD + 1, n)
    left = rng.integers(0, 2 * PAD + 1, n)
    flip = rng.integers(0, 2, n) == 1
    x = np.arange(28)
    rows = top[:, None] + x                                             # [B, 28]
    cols = left[:, None] + np.where(flip[:, None], 27 - x, x)           # [B, 28]
    out = padded[index[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out[:, None, :, :]


def make_optimizer(args, model):
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if args.no_decay_bn_bias and p.dim() == 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": args.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    if args.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum,
                               nesterov=args.nesterov)
    cls = torch.optim.Adam if args.optimizer == "adam" else torch.optim.AdamW
    return cls(groups, lr=args.lr, betas=(0.9, 0.999), eps=1e-8)


def evaluate(model, images, labels, batch_size, smoothing):
    model.eval()
    correct1 = correct5 = 0
    loss_sum = 0.0
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(images[i:i + batch_size])
            y = torch.from_numpy(labels[i:i + batch_size])
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, label_smoothing=smoothing,
                                              reduction="sum"))
            top5 = logits.topk(5, dim=1).indices
            correct1 += int((top5[:, 0] == y).sum())
            correct5 += int((top5 == y[:, None]).any(dim=1).sum())
    seconds = time.perf_counter() - start
    model.train()
    n = len(images)
    return correct1 / n, correct5 / n, loss_sum / n, n / seconds


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--model", default="lenet5", choices=list(torch_models.MODEL_NAMES))
    p.add_argument("--data-path", default=fashion_mnist.DEFAULT_PATH,
                   help="Fashion-MNIST IDX (gzip) directory")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=None,
                   help="base learning rate (default 0.1 for sgd, 1e-3 for adam/adamw)")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw"])
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--nesterov", type=parse_bool, nargs="?", const=True, default=False)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--no-decay-bn-bias", type=parse_bool, nargs="?", const=True, default=False)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--lr-scheduler", default="constant", choices=["constant", "step", "cosine"])
    p.add_argument("--warmup-epochs", type=float, default=0.0)
    p.add_argument("--lr-step-size", type=int, default=10)
    p.add_argument("--lr-gamma", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="torch intra-op threads (default: all hardware threads, as train's 0)")
    p.add_argument("--log-interval", type=int, default=10)
    p.add_argument("--log-file", help="also append every line to this file")
    p.add_argument("--save", help="write the best model's state_dict here (torch.save)")
    p.add_argument("--max-iters", type=int, default=0,
                   help="stop every epoch after this many iterations (smoke tests; 0: all)")
    p.add_argument("--eval-limit", type=int, default=0,
                   help="evaluate on the first N test images only (smoke tests; 0: all 10,000)")
    args = p.parse_args()
    if args.lr is None:
        args.lr = 0.1 if args.optimizer == "sgd" else 1e-3
    if min(args.epochs, args.batch_size, args.log_interval, args.threads) < 1 or \
            args.warmup_epochs < 0 or args.max_iters < 0 or args.eval_limit < 0:
        p.error("--epochs, --batch-size, --log-interval, --threads must be >= 1; "
                "--warmup-epochs, --max-iters, --eval-limit >= 0")

    log_file = open(args.log_file, "a") if args.log_file else None

    def log(line):
        print(line, flush=True)
        if log_file:
            log_file.write(line + "\n")
            log_file.flush()

    try:
        train_u8, train_labels = fashion_mnist.load("train", args.data_path)
        test_u8, test_labels = fashion_mnist.load("test", args.data_path)
    except fashion_mnist.DataError as e:
        sys.exit(f"train_reference_torch: {e}")
    if args.eval_limit:
        test_u8, test_labels = test_u8[:args.eval_limit], test_labels[:args.eval_limit]
    train = fashion_mnist.normalize(train_u8)[:, 0]                     # [N, 28, 28]
    fill = np.float32((0.0 - fashion_mnist.MEAN) / fashion_mnist.STD)   # a zero pixel
    padded = np.full((len(train), 28 + 2 * PAD, 28 + 2 * PAD), fill, dtype=np.float32)
    padded[:, PAD:PAD + 28, PAD:PAD + 28] = train
    del train
    test = fashion_mnist.normalize(test_u8)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = torch_models.build(args.model).train()
    optimizer = make_optimizer(args, model)
    n = len(padded)
    iters = (n + args.batch_size - 1) // args.batch_size
    warmup_iters = int(round(args.warmup_epochs * iters))
    total_iters = args.epochs * iters
    log(f"train_reference_torch: PyTorch {torch.__version__}, {args.model}, "
        f"{torch.get_num_threads()} threads, {n} training / {len(test)} test images from "
        f"{args.data_path}; " + " ".join(f"--{k.replace('_', '-')}={v}"
                                         for k, v in vars(args).items() if v is not None))

    step, best = 0, -1.0
    for epoch in range(args.epochs):
        rng = np.random.default_rng([args.seed, epoch])
        order = rng.permutation(n)
        loss_sum = cost_sum = samples = 0.0
        count = 0
        for it in range(iters):
            if args.max_iters and it >= args.max_iters:
                break
            t0 = time.perf_counter()
            index = order[it * args.batch_size:(it + 1) * args.batch_size]
            x = torch.from_numpy(augment(padded, index, rng))
            y = torch.from_numpy(train_labels[index])
            lr = learning_rate(args, step, epoch, warmup_iters, total_iters)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            loss.backward()
            optimizer.step()
            value = float(loss)
            if not math.isfinite(value):
                sys.exit(f"train_reference_torch: loss is {value} at epoch {epoch + 1}, iter "
                         f"{it + 1} (lower --lr?)")
            step += 1
            loss_sum += value
            cost_sum += time.perf_counter() - t0
            samples += len(index)
            count += 1
            if (it + 1) % args.log_interval == 0 or it + 1 == iters or it + 1 == args.max_iters:
                acc = float((logits.argmax(1) == y).float().mean())
                cost = cost_sum / count
                log(f"[Epoch {epoch + 1}/{args.epochs}, iter {it + 1}/{iters}] lr: {lr:.5f}, "
                    f"loss: {loss_sum / count:.5f}, acc: {acc:.5f}, avg_batch_cost: {cost:.5f} "
                    f"sec, avg_samples: {samples / count:.1f}, avg_ips: "
                    f"{samples / count / cost:.1f} images/sec")
                loss_sum = cost_sum = samples = 0.0
                count = 0
        top1, top5, eval_loss, ips = evaluate(model, test, test_labels, args.batch_size,
                                              args.label_smoothing)
        log(f"[Eval] epoch: {epoch + 1}, top1: {top1:.4f}, top5: {top5:.4f}, loss: "
            f"{eval_loss:.4f}, images/s: {ips:.1f}")
        if top1 > best:
            best = top1
            if args.save:
                torch.save(model.state_dict(), args.save)
    log(f"train_reference_torch: done, best top1 {best:.4f}")


if __name__ == "__main__":
    main()
