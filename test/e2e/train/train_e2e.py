#!/usr/bin/env python3
"""End-to-end checks of the train and eval drivers on lite_data.

usage: train_e2e.py <basic|resume|bad_inputs|bool_flags> <train exe> <eval exe> <lite_data.tar>

Unpacks lite_data.tar into a temporary dir, uses a private compile cache
(KILN_CACHE_DIR) there, and removes everything afterwards.
"""
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

LOG_LINE = re.compile(
    r"^\[Epoch \d+/\d+, iter \d+/\d+\] lr: [0-9.e+-]+, loss: \d+\.\d{5}, acc: \d\.\d{5}, "
    r"avg_reader_cost: \d+\.\d{5} sec, avg_batch_cost: \d+\.\d{5} sec, "
    r"avg_samples: \d+\.\d, avg_ips: \d+\.\d images/sec$", re.M)
EVAL_LINE = re.compile(
    r"^\[Eval\] epoch: \d+, top1: \d\.\d{4}, top5: \d\.\d{4}, loss: \d+\.\d{4}, images/s: \d+\.\d$",
    re.M)

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def run(argv, env):
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=100)
    return p.returncode, p.stdout, p.stderr


def main():
    case, train, evalexe, tar = sys.argv[1:5]
    tmp = tempfile.mkdtemp(prefix="kiln-train-e2e-")
    try:
        with tarfile.open(tar) as t:
            t.extractall(tmp)
        data = os.path.join(tmp, "lite_data")
        env = dict(os.environ, KILN_CACHE_DIR=os.path.join(tmp, "cache"))
        base = [train, "--model", "lenet5", "--batch-size", "16", "--data-path", data,
                "--threads", "2"]

        def out(name):
            return os.path.join(tmp, name)

        def ok(argv, what):
            rc, so, se = run(argv, env)
            check(rc == 0, f"{what}: exit {rc}, stderr: {se.strip()}")
            return so

        def bad(argv, tool, words, what, extra_env=None):
            rc, so, se = run(argv, dict(env, **(extra_env or {})))
            lines = [l for l in se.splitlines() if l.strip()]
            check(rc != 0, f"{what}: exit code {rc}, expected non-zero")
            check(len(lines) == 1 and lines[0].startswith(tool + ": "),
                  f"{what}: expected one '{tool}: ' line on stderr, got {lines}")
            for w in words:
                check(w in se, f"{what}: '{w}' not in stderr: {se.strip()}")

        if case == "basic":
            so = ok(base + ["--epochs", "1", "--output-dir", out("a")], "train")
            check(LOG_LINE.search(so) is not None, "no conforming log line in:\n" + so)
            check(EVAL_LINE.search(so) is not None, "no conforming [Eval] line in:\n" + so)
            for f in ["latest.kparams", "latest.kopt", "best_model.kparams", "train.log"]:
                check(os.path.isfile(os.path.join(out("a"), f)), f"{f} not written")
            with open(os.path.join(out("a"), "train.log")) as f:
                check(LOG_LINE.search(f.read()) is not None, "train.log lacks the log lines")
            # --key=value form, True/False booleans; same seed -> identical weights.
            ok([train, "--model=lenet5", "--batch-size=16", f"--data-path={data}", "--epochs=1",
                f"--output-dir={out('b')}", "--nesterov=False", "--num-workers=3",
                "--threads=2"], "train (second run, --key=value)")
            check(filecmp.cmp(os.path.join(out("a"), "latest.kparams"),
                              os.path.join(out("b"), "latest.kparams"), shallow=False),
                  "two runs with the same seed differ")
            so = ok([evalexe, "--model", "lenet5", "--pretrained",
                     os.path.join(out("a"), "best_model.kparams"), "--data-path", data,
                     "--batch-size", "32"], "eval")
            check(re.search(r"top1: \d\.\d{4}, top5: \d\.\d{4}, loss: \d+\.\d{4}, images/s: ", so)
                  is not None, "eval output: " + so)
        elif case == "resume":
            ok(base + ["--epochs", "2", "--output-dir", out("s")], "train 2 epochs")
            ok(base + ["--epochs", "1", "--output-dir", out("r")], "train 1 epoch")
            so = ok(base + ["--epochs", "2", "--output-dir", out("r"), "--resume", out("r")],
                    "resume for the 2nd epoch")
            check("[Epoch 1/" not in so, "the resumed run trained epoch 1 again")
            for f in ["latest.kparams", "best_model.kparams"]:
                check(filecmp.cmp(os.path.join(out("s"), f), os.path.join(out("r"), f),
                                  shallow=False), f"{f}: resumed run differs from a straight one")
        elif case == "bool_flags":
            # "--nesterov True" (space form), "--nesterov=True" and "--nesterov"
            # alone followed by another flag all mean Nesterov momentum: the
            # same weights, which differ from plain momentum's.
            def weights(run):
                with open(os.path.join(out(run), "latest.kparams"), "rb") as f:
                    return f.read()
            ok(base + ["--epochs", "1", "--output-dir", out("space"), "--nesterov", "True"],
               "--nesterov True")
            ok(base + ["--epochs", "1", "--output-dir", out("eq"), "--nesterov=True"],
               "--nesterov=True")
            ok(base + ["--nesterov", "--epochs", "1", "--output-dir", out("alone")],
               "--nesterov alone, then --epochs")
            # eval after train reuses train's artifact (other optimizer flags
            # than eval's defaults): the cache gets no artifact of eval's own.
            cache = env["KILN_CACHE_DIR"]
            before = sorted(f for f in os.listdir(cache) if f.endswith(".kiln"))
            so = ok([evalexe, "--model", "lenet5", "--pretrained",
                     os.path.join(out("space"), "latest.kparams"), "--data-path", data],
                    "eval after train --nesterov True")
            check("top1: " in so, "eval output: " + so)
            after = sorted(f for f in os.listdir(cache) if f.endswith(".kiln"))
            check(len(before) == 1 and after == before,
                  f"eval compiled its own artifact: {before} -> {after}")
            ok(base + ["--epochs", "1", "--output-dir", out("off"), "--nesterov", "False",
                       "--no-decay-bn-bias", "False"], "--nesterov False")
            check(weights("space") == weights("eq") == weights("alone"),
                  "--nesterov True / =True / alone trained different weights")
            check(weights("space") != weights("off"), "--nesterov True had no effect")
            bad(base + ["--nesterov", "maybe", "--output-dir", out("x")], "train",
                ["--nesterov", "expected True/False", "maybe"], "--nesterov maybe")
        elif case == "bad_inputs":
            ok(base + ["--epochs", "1", "--output-dir", out("a")], "train")
            weights = os.path.join(out("a"), "latest.kparams")
            bad(base + ["--data-path", out("nope")], "train", ["nope", "lite_data.tar"],
                "missing data path")
            bad(base + ["--model", "nosuch"], "train", ["nosuch", "lenet5", "resnet20"],
                "unknown model")
            bad(base + ["--model", "resnet20", "--pretrained", weights, "--output-dir", out("x")],
                "train", ["latest.kparams", "resnet20"], "pretrained of another model")
            bad([evalexe, "--model", "resnet20", "--pretrained", weights, "--data-path", data],
                "eval", ["latest.kparams", "resnet20"], "eval: weights of another model")
            with open(weights, "rb") as f:
                half = f.read()[:1000]
            with open(out("truncated.kparams"), "wb") as f:
                f.write(half)
            bad(base + ["--pretrained", out("truncated.kparams"), "--output-dir", out("y")],
                "train", ["truncated.kparams"], "truncated pretrained")
            with open(out("file"), "w") as f:
                f.write("x")
            bad(base + ["--output-dir", os.path.join(out("file"), "sub")], "train", ["file"],
                "unwritable output dir")
            bad(base + ["--device", "tpu"], "train", ["--device tpu", "expected cpu, gpu"],
                "--device tpu")
            # A GPU run without the NVIDIA driver fails before compiling anything.
            bad(base + ["--device", "gpu"], "train",
                ["cannot load the NVIDIA driver library /nonexistent/libcuda.so.1", "--device cpu"],
                "--device gpu without a driver", {"KILN_CUDA_DRIVER": "/nonexistent/libcuda.so.1"})
            bad(base + ["--resume", out("nothing")], "train", ["nothing"], "resume from nothing")
        else:
            raise SystemExit("unknown case " + case)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
