#!/usr/bin/python3
"""Kiln vs ONNX Runtime inference, side by side in one run (issue 5, item 6).

    /work/venv-ort/bin/python bench/inference/compare_onnxruntime.py [--threads 1 2] ...

For each model (lenet5, resnet20) the released weights
(pretrain_models/<model>_fashion_mnist.kparams) are
  * exported by Kiln's export_model (inference.kmodel + inference.kparams), and
  * loaded into the PyTorch twin (bench/torch_models.py), exported to ONNX
    (eval mode, dynamic batch) and run by ONNX Runtime's CPU execution provider
    (intra_op_num_threads = T, inter_op_num_threads = 1, sequential execution,
    all graph optimizations).
Then, per (model, batch, threads), Kiln (kiln-run on inference.kmodel) and ONNX
Runtime are timed back to back, --rounds (batch 1: --small-rounds) times,
alternating, so that a load change on the machine hits both alike (ONNX Runtime gets a fresh session per
round, closed before Kiln runs: its idle pool threads spin-wait and would take
a core from Kiln); each side's time is the median of its
round medians, and the ratio is the median of the per-round ratios (a round's
Kiln and ORT timings are seconds apart; this VM's speed moves by up to 2x
within minutes, in phases of a fraction of a second to minutes, so a ratio
of two medians taken minutes apart would mostly measure the phases). Batch 128 is throughput (>= 10 timed runs per round), batch 1 is
latency (>= 200 timed runs per round). Both time the engine alone on a float32
tensor already in memory (no image decoding).

Numerics: ONNX Runtime's logits vs PyTorch's on a random batch (max abs diff),
and Kiln's infer driver (the exported model and weights, through the inference
API) vs ONNX Runtime on seeded random PNGs: same class_id, max |prob| diff.

Needs torch and onnxruntime in the interpreter that runs it; without them it
prints a "skipped:" line with how to install them and exits 0.
"""
import argparse
import gc
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MODELS = ("lenet5", "resnet20")
MEAN, STD = 0.2860, 0.3530  # tools/data/include/kiln/data/Image.h (Fashion-MNIST statistics)
INSTALL_HINT = ("/usr/bin/python3 -m venv --system-site-packages /work/venv-ort && "
                "/work/venv-ort/bin/pip install onnxruntime && "
                "/work/venv-ort/bin/pip uninstall -y numpy   # keep Debian's numpy 1.x, "
                "which Debian's torch 1.13 is built against; then run this script with "
                "/work/venv-ort/bin/python")


def skip(reason):
    print(f"skipped: {reason}")
    print(f"  to run it: {INSTALL_HINT}")
    sys.exit(0)


try:
    import numpy as np
    import torch
    torch.from_numpy(np.zeros(1, np.float32))  # fails when numpy 2 shadows torch 1.13's numpy 1
except Exception as e:
    skip(f"PyTorch with a working numpy is not importable ({type(e).__name__}: "
         f"{str(e).splitlines()[0] if str(e) else ''})")
try:
    import onnxruntime as ort
except Exception as e:
    skip(f"onnxruntime is not importable in {sys.executable} ({type(e).__name__}: {e})")
sys.path.insert(0, os.path.join(REPO, "bench"))
import torch_models  # noqa: E402


def fail(msg):
    sys.exit(f"compare_onnxruntime: {msg}")


def load_kparams(path):
    """Kiln's .kparams (runtime/src/Checkpoint.cpp): "KPRM", u32 version (1), u32 count,
    count x (u32 name length, name, u32 rank, i64 dims, f32 data), u32 CRC-32 of the rest."""
    try:
        with open(path, "rb") as f:
            b = f.read()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    if len(b) < 16 or b[:4] != b"KPRM":
        fail(f"{path}: not a Kiln checkpoint (expected the 'KPRM' magic)")
    if zlib.crc32(b[:-4]) != struct.unpack_from("<I", b, len(b) - 4)[0]:
        fail(f"{path}: corrupt checkpoint (CRC-32 mismatch)")
    version, count = struct.unpack_from("<II", b, 4)
    if version != 1:
        fail(f"{path}: checkpoint format version {version}, this script reads version 1")
    pos, params = 12, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", b, pos)
        name = b[pos + 4:pos + 4 + n].decode()
        pos += 4 + n
        (rank,) = struct.unpack_from("<I", b, pos)
        shape = struct.unpack_from(f"<{rank}q", b, pos + 4)
        pos += 4 + 8 * rank
        numel = int(np.prod(shape, dtype=np.int64))
        params[name] = torch.from_numpy(
            np.frombuffer(b, "<f4", numel, pos).astype(np.float32).reshape(shape))
        pos += 4 * numel
    return params


def torch_model(name, weights):
    model = torch_models.build(name)
    params = load_kparams(weights)
    wanted = torch_models.kiln_state(model)
    missing = sorted(set(wanted) - set(params))
    if missing:
        fail(f"{weights}: no {', '.join(missing[:3])}... for the PyTorch {name}")
    for k, v in params.items():
        if k in wanted and tuple(v.shape) != tuple(wanted[k].shape):
            fail(f"{weights}: '{k}' has shape {tuple(v.shape)}, {name} expects "
                 f"{tuple(wanted[k].shape)}")
    model.load_state_dict({k: params[k] for k in wanted}, strict=False)
    return model.eval()


def export_onnx(model, path):
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, *torch_models.INPUT_SHAPE), path,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                          opset_version=13, do_constant_folding=True)


def ort_session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_ort(sess, batch, warmup, repeat, seed=0):
    x = np.random.default_rng(seed).random((batch, *torch_models.INPUT_SHAPE), np.float32)
    for _ in range(warmup):
        sess.run(None, {"image": x})
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        sess.run(None, {"image": x})
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def time_kiln(kiln_run, kmodel, batch, threads, warmup, repeat):
    cmd = [kiln_run, kmodel, "--entry", "infer", "--batch", str(batch), "--threads", str(threads),
           "--warmup", str(warmup), "--repeat", str(repeat)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"^time: median ([0-9.]+) (us|ms|s)\b", r.stdout, re.M)
    if r.returncode != 0 or not m:
        fail(f"{' '.join(cmd)} failed (exit {r.returncode}): "
             f"{(r.stderr or r.stdout).strip().splitlines()[-1:] or ''}")
    return float(m.group(1)) * UNITS[m.group(2)]


def write_png(path, pixels):
    """An 8-bit grayscale PNG of a uint8 [h, w] array."""
    h, w = pixels.shape
    raw = b"".join(b"\0" + pixels[r].tobytes() for r in range(h))

    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def check_kiln_vs_ort(infer, model_dir, sess, work, count=32):
    """infer on seeded random PNGs vs ONNX Runtime's softmax on the same normalised pixels."""
    img_dir = os.path.join(work, "images")
    os.makedirs(img_dir, exist_ok=True)
    pixels = np.random.default_rng(1).integers(0, 256, (count, 28, 28), dtype=np.uint8)
    for i in range(count):
        write_png(os.path.join(img_dir, f"img{i:03d}.png"), pixels[i])
    r = subprocess.run([infer, "--model-dir", model_dir, "--img-path", img_dir,
                        "--batch-size", "8", "--cpu-threads", "1"], capture_output=True, text=True)
    got = {os.path.basename(m.group(1)): (int(m.group(2)), float(m.group(3))) for m in re.finditer(
        r"image_name: (\S+), class_id: (\d+), prob: ([0-9.eE+-]+)", r.stdout)}
    if r.returncode != 0 or len(got) != count:
        fail(f"infer on {img_dir} failed (exit {r.returncode}, {len(got)}/{count} results): "
             f"{r.stderr.strip().splitlines()[-1:] or ''}")
    x = ((pixels.astype(np.float32) / np.float32(255) - np.float32(MEAN)) / np.float32(STD))
    logits = sess.run(None, {"image": x[:, None].astype(np.float32)})[0].astype(np.float64)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    same, max_diff = 0, 0.0
    for i in range(count):
        cls, p = got[f"img{i:03d}.png"]
        same += cls == int(probs[i].argmax())
        max_diff = max(max_diff, abs(p - probs[i, cls]))
    return same, count, max_diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--big-batch", type=int, default=128)
    ap.add_argument("--big-repeat", type=int, default=20, help="timed runs per round at the big batch (>= 10)")
    ap.add_argument("--small-repeat", type=int, default=300, help="timed runs per round at batch 1 (>= 200)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per round (x10 at batch 1)")
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating Kiln/ORT rounds per big-batch configuration")
    ap.add_argument("--small-rounds", type=int, default=15,
                    help="alternating Kiln/ORT rounds per batch-1 configuration (a round is "
                         "~0.2 s a side, so more of them cost little and steady the median)")
    ap.add_argument("--bin-dir", default=os.environ.get("KILN_BIN_DIR", "/work/build/bin"),
                    help="Kiln's built tools (export_model, kiln-run, infer)")
    ap.add_argument("--weights-dir", default=os.path.join(REPO, "pretrain_models"))
    args = ap.parse_args()
    if (args.big_repeat < 10 or args.small_repeat < 200 or args.rounds < 1
            or args.small_rounds < 1 or args.warmup < 1):
        ap.error("--big-repeat >= 10, --small-repeat >= 200, --rounds >= 1, --small-rounds >= 1, "
                 "--warmup >= 1")
    if min(args.threads) < 1 or args.big_batch < 1:
        ap.error("--threads and --big-batch must be >= 1")
    tools = {t: os.path.join(args.bin_dir, t) for t in ("export_model", "kiln-run", "infer")}
    for t, p in tools.items():
        if not os.access(p, os.X_OK):
            fail(f"no {t} at {p}: build it (ninja -C <build> {t}) or pass --bin-dir")

    print(f"Kiln ({args.bin_dir}) vs ONNX Runtime {ort.__version__} (CPU EP), PyTorch "
          f"{torch.__version__}; {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} at the start")
    rows, env = [], dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="kiln-vs-ort-") as work:
        for name in args.models:
            weights = os.path.join(args.weights_dir, f"{name}_fashion_mnist.kparams")
            model_dir = os.path.join(work, name)
            r = subprocess.run([tools["export_model"], "--model", name, "--pretrained", weights,
                                "--save-inference-dir", model_dir], capture_output=True,
                               text=True, env=env)
            if r.returncode != 0:
                fail(f"export_model --model {name} failed: {r.stderr.strip()}")
            model = torch_model(name, weights)
            onnx_path = os.path.join(work, f"{name}.onnx")
            export_onnx(model, onnx_path)

            # Numerics first: ORT vs PyTorch, Kiln's infer vs ORT.
            sess1 = ort_session(onnx_path, 1)
            x = torch.rand(64, *torch_models.INPUT_SHAPE, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                ref = model(x).numpy()
            ort_diff = float(np.abs(sess1.run(None, {"image": x.numpy()})[0] - ref).max())
            same, count, prob_diff = check_kiln_vs_ort(tools["infer"], model_dir, sess1,
                                                       os.path.join(work, name + "-img"))
            print(f"{name}: ORT vs PyTorch max |logit diff| {ort_diff:.2e} (batch 64); "
                  f"Kiln infer vs ORT: class_id equal on {same}/{count} PNGs, "
                  f"max |prob diff| {prob_diff:.2e}")

            kmodel = os.path.join(model_dir, "inference.kmodel")
            for batch, repeat, warmup, rounds in (
                    (args.big_batch, args.big_repeat, args.warmup, args.rounds),
                    (1, args.small_repeat, args.warmup * 10, args.small_rounds)):
                for threads in args.threads:
                    kiln_ms, ort_ms = [], []
                    for _ in range(rounds):  # alternate so load changes hit both sides
                        kiln_ms.append(time_kiln(tools["kiln-run"], kmodel, batch, threads,
                                                 warmup, repeat))
                        # A session per round, closed before Kiln runs again: ONNX
                        # Runtime's pool threads spin-wait after a run, and a live
                        # session's spinning threads took a core from kiln-run (lenet5
                        # batch 128 on 2 threads ran 1.7x slower beside one).
                        sess = ort_session(onnx_path, threads)
                        ort_ms.append(time_ort(sess, batch, warmup, repeat))
                        del sess
                        gc.collect()
                    # Per round: throughput ratio ORT/Kiln time at batch > 1 (higher
                    # is better for Kiln), latency ratio Kiln/ORT at batch 1 (lower).
                    ratios = [o / k if batch > 1 else k / o for k, o in zip(kiln_ms, ort_ms)]
                    rows.append((name, batch, threads, statistics.median(kiln_ms),
                                 statistics.median(ort_ms), statistics.median(ratios),
                                 min(ratios), max(ratios)))

    print()
    head = ("model", "batch", "threads", "Kiln ms", "ORT ms", "Kiln img/s", "ORT img/s", "ratio",
            "rounds' range")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, batch, threads, k, o, ratio, lo, hi in rows:
        kind = "thr" if batch > 1 else "lat"
        print(f"| {name} | {batch} | {threads} | {k:.3f} | {o:.3f} | {batch * 1e3 / k:.0f} | "
              f"{batch * 1e3 / o:.0f} | {ratio:.2f}x {kind} | {lo:.2f}-{hi:.2f} |")
    print("\nratio (median of the per-round ratios): batch > 1 -> Kiln/ORT throughput (>= 1.00 "
          "means Kiln is at least as fast); batch 1 -> Kiln/ORT latency (<= 1.00 means Kiln is at "
          "least as fast)")
    bars = [(f"resnet20 batch {b} {t} thread{'s' if t > 1 else ''}", ok)
            for n, b, t, k, o, ratio, lo, hi in rows if n == "resnet20"
            for ok in [ratio >= 1.0 if b > 1 else ratio <= 1.0]]
    if bars:
        print("bar (issue 5: resnet20 Kiln >= 1.0x ORT throughput at batch "
              f"{args.big_batch}, <= 1.0x its batch-1 latency):")
        for what, ok in bars:
            print(f"  {what}: {'MET' if ok else 'NOT MET'}")
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end")


if __name__ == "__main__":
    main()
