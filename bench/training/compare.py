#!/usr/bin/python3
"""Kiln's train_step against PyTorch's, side by side: images/s, GFLOP/s and the ratio.

    bench/training/compare.py                     # both models, batch 32/128, 1 and 2 threads
    bench/training/compare.py --models resnet20 --batches 128 --threads 2 --rounds 5
    bench/training/compare.py --reference off     # Kiln only

For every (model, threads, batch) it alternates Kiln (build/bin/bench_training
--json) and PyTorch (bench/training/reference_torch.py) --rounds times, each
round timing --repeats steps after --warmup untimed ones, so both see the same
machine load (A B A B ...); each side's figure is the median over all its
timed steps. The step is the same on both sides: training-mode forward,
cross-entropy, backward, SGD with momentum 0.9 (lr 0), same model, batch and
thread count (PyTorch: torch.set_num_threads, OPENBLAS_NUM_THREADS=1).
GFLOP/s counts 3x the forward conv/linear FLOPs per image (forward plus the
two backward GEMMs), the usual convention, for both sides.

Kiln's artifact is compiled once per model into a fresh cache directory
(removed at the end), so a compiler change never meets a stale artifact.
Without PyTorch the reference columns are skipped with a one-line reason.
Run it on an otherwise idle machine: the load average is printed at the start
(with a warning above 0.5) and the end, and figures measured under load are
not comparable.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
REFERENCE_SCRIPT = os.path.join(HERE, "reference_torch.py")
# The bar: resnet20, batch 128, 2 threads, Kiln >= 1.2x PyTorch's images/s.
BAR = ("resnet20", 128, 2, 1.2)


class BenchError(Exception):
    pass


def last_json(text):
    """The last line of `text` that parses as a JSON object, or None."""
    found = None
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                found = value
    return found


def run(cmd, env=None):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    return proc.returncode, proc.stdout, proc.stderr


def first_line(text):
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= 200 else line[:200] + "..."


class Kiln:
    def __init__(self, binary, cache_dir):
        self.binary, self.cache_dir = binary, cache_dir
        self.framework = "Kiln"

    def measure(self, model, batch, threads, warmup, repeat):
        cmd = [self.binary, "--json", "--cache-dir", self.cache_dir, "--models", model,
               "--batches", str(batch), "--threads", str(threads), "--warmup", str(warmup),
               "--repeats", str(repeat)]
        rc, out, err = run(cmd)
        result = last_json(out)
        if rc != 0 or not result or "times_ms" not in result:
            raise BenchError(f"bench_training failed for {model} batch {batch} threads {threads} "
                             f"(exit {rc}): {first_line(err or out)}")
        self.framework = result.get("framework", self.framework)
        return result


class Torch:
    def __init__(self, python):
        self.python = python
        self.framework = None
        self.reason = None

    def env(self, threads):
        env = dict(os.environ)
        # OpenBLAS must not add threads next to torch's own (shared/toolchain-notes.md).
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["OMP_NUM_THREADS"] = str(threads)
        return env

    def check(self):
        if not os.path.exists(self.python):
            self.reason = f"no interpreter at {self.python}"
            return False
        rc, out, err = run([self.python, REFERENCE_SCRIPT, "--check"], self.env(1))
        result = last_json(out)
        if rc == 0 and result and "framework" in result:
            self.framework = result["framework"]
            return True
        self.reason = first_line(out or err) or f"{self.python} exited {rc}"
        return False

    def measure(self, model, batch, threads, warmup, repeat):
        cmd = [self.python, REFERENCE_SCRIPT, "--model", model, "--batch", str(batch),
               "--threads", str(threads), "--warmup", str(warmup), "--repeat", str(repeat)]
        rc, out, err = run(cmd, self.env(threads))
        result = last_json(out)
        if rc != 0 or not result or "times_ms" not in result:
            raise BenchError(f"reference_torch.py failed for {model} batch {batch} threads "
                             f"{threads} (exit {rc}): {first_line(err or out)}")
        return result


def machine_line():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} hardware threads, load average {load_average()}"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0] + " (1 min)"
    except OSError:
        return "?"


def warn_if_busy(when):
    """Another process on the cores makes both columns (and their ratio) meaningless."""
    try:
        load = float(load_average().split()[0])
    except ValueError:
        return
    if load > 0.5:
        print(f"WARNING: load average {load:.2f} {when}: other processes are using the cores; "
              "rerun on an idle machine before quoting these figures")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet20", "lenet5"],
                        choices=["resnet20", "lenet5"])
    parser.add_argument("--batches", nargs="+", type=int, default=[32, 128])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3,
                        help="Kiln/PyTorch alternations per row (default 3)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed steps per side and round (>= 3; default 5)")
    parser.add_argument("--warmup", type=int, default=2,
                        help="untimed steps per side and round (default 2)")
    parser.add_argument("--reference", choices=["auto", "off"], default="auto",
                        help="PyTorch side by side if importable (default) or not at all")
    parser.add_argument("--build-dir", default=os.path.join(ROOT, "build"),
                        help="Kiln build directory with bin/bench_training (default: build/)")
    parser.add_argument("--python", default="/usr/bin/python3",
                        help="interpreter with torch for the reference (default /usr/bin/python3)")
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 3 or args.warmup < 0:
        parser.error("--rounds must be >= 1, --repeats >= 3, --warmup >= 0")
    if min(args.batches) < 1 or min(args.threads) < 1:
        parser.error("--batches and --threads must be >= 1")

    binary = os.path.join(args.build_dir, "bin", "bench_training")
    if not os.access(binary, os.X_OK):
        sys.exit(f"compare.py: no {binary} (build it: ninja -C {args.build_dir} bench_training, "
                 "or pass --build-dir)")
    if "--json" not in run([binary, "--help"])[1]:
        sys.exit(f"compare.py: {binary} predates --json (rebuild it: ninja -C {args.build_dir} "
                 "bench_training)")

    torch_side = Torch(args.python)
    with_ref = False
    print("Kiln vs PyTorch: train step (forward, cross-entropy, backward, SGD momentum 0.9)")
    print(f"machine: {machine_line()} at start")
    warn_if_busy("at the start")
    if args.reference == "off":
        print("reference: off (--reference off)")
    elif torch_side.check():
        with_ref = True
        print(f"reference: {torch_side.framework} via {os.path.relpath(REFERENCE_SCRIPT, ROOT)} "
              "(eager, torch.set_num_threads, OPENBLAS_NUM_THREADS=1)")
    else:
        print(f"reference: skipped ({torch_side.reason})")
    print(f"per row: {args.rounds} round(s) of {args.warmup} warm-up + {args.repeats} timed steps "
          "per side, median of all timed steps (and, with PyTorch and 2+ rounds, each round's "
          "ratio); GFLOP/s = 3 x forward conv/linear FLOPs")

    cache_dir = tempfile.mkdtemp(prefix="kiln-compare-")
    kiln = Kiln(binary, cache_dir)
    rows = []
    header = (f"{'model':<9} {'batch':>5} {'thr':>3} | {'Kiln ms':>9} {'images/s':>9} "
              f"{'GFLOP/s':>8}")
    if with_ref:
        header += f" | {'torch ms':>9} {'images/s':>9} {'GFLOP/s':>8} | {'Kiln/torch':>10}"
    try:
        # Compile each model's artifact up front so that no row pays for it.
        for model in args.models:
            kiln.measure(model, args.batches[0], 1, 0, 3)
        print(f"Kiln: {kiln.framework}\n")
        print(header)
        print("-" * len(header))
        for model in args.models:
            for threads in args.threads:
                for batch in args.batches:
                    kiln_times, ref_times, flops = [], [], None
                    round_ratios = []  # per round: PyTorch's median / Kiln's median
                    for _ in range(args.rounds):
                        k = kiln.measure(model, batch, threads, args.warmup, args.repeats)
                        kiln_times += k["times_ms"]
                        flops = k["train_flops_per_image"]
                        if with_ref:
                            r = torch_side.measure(model, batch, threads, args.warmup,
                                                   args.repeats)
                            ref_times += r["times_ms"]
                            round_ratios.append(statistics.median(r["times_ms"]) /
                                                statistics.median(k["times_ms"]))
                    row = {"model": model, "batch": batch, "threads": threads,
                           "kiln_ms": statistics.median(kiln_times),
                           "ref_ms": statistics.median(ref_times) if ref_times else None,
                           "flops": flops, "round_ratios": round_ratios}
                    rows.append(row)
                    print(format_row(row, with_ref), flush=True)
                    if len(round_ratios) > 1:
                        # The machine's speed drifts between rounds; the spread
                        # of the per-round ratios shows how far to trust the row.
                        print("    per-round Kiln/torch: " +
                              " ".join(f"{x:.2f}" for x in round_ratios) +
                              f" (median {statistics.median(round_ratios):.2f})", flush=True)
    except BenchError as e:
        print(f"compare.py: {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)

    # (This one includes the benchmark's own threads.)
    print(f"\nload average at the end: {load_average()}")
    model, batch, threads, bar = BAR
    for row in rows:
        if (row["model"], row["batch"], row["threads"]) == (model, batch, threads):
            if row["ref_ms"] is None:
                print(f"{model} batch {batch}, {threads} threads: no PyTorch figure to compare "
                      "with")
            else:
                ratio = row["ref_ms"] / row["kiln_ms"]
                spread = ""
                if len(row["round_ratios"]) > 1:
                    spread = (f"; per-round ratios {min(row['round_ratios']):.2f}-"
                              f"{max(row['round_ratios']):.2f}")
                print(f"{model} batch {batch}, {threads} threads: Kiln/PyTorch images/s = "
                      f"{ratio:.2f}x (bar >= {bar}x: {'met' if ratio >= bar else 'NOT met'}"
                      f"{spread})")
    return 0


def format_row(row, with_ref):
    def side(ms):
        ips = row["batch"] / (ms / 1e3)
        return f"{ms:>9.2f} {ips:>9.1f} {row['flops'] * ips / 1e9:>8.2f}"

    line = f"{row['model']:<9} {row['batch']:>5} {row['threads']:>3} | {side(row['kiln_ms'])}"
    if with_ref:
        if row["ref_ms"] is None:
            line += f" | {'-':>9} {'-':>9} {'-':>8} | {'-':>10}"
        else:
            line += f" | {side(row['ref_ms'])} | {row['ref_ms'] / row['kiln_ms']:>9.2f}x"
    return line


if __name__ == "__main__":
    sys.exit(main())
