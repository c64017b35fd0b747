#!/usr/bin/env python3
"""End-to-end checks of export_model + infer, run as a user runs them.

usage: infer_e2e.py defaults <export_model> <infer> <source dir>
       infer_e2e.py batches <infer> <model dir> <image dir>
       infer_e2e.py predict <predict> <infer> <model dir> <weights> <image dir> <cache dir>
       infer_e2e.py json <model dir> <weights> <kernel count>
       infer_e2e.py targets <model dir>=<cuda modules|none>...
       infer_e2e.py gpu <infer> <model dir> <image dir> emulated|real

defaults  in a fresh temporary directory holding only what a checkout has
          (pretrain_models/, images/ as links): `export_model` and then
          `infer` with no flags at all work, write ./output/lenet5_infer and
          print one `image_name: ..., class_id: ..., prob: ...` line per demo
          image; the TIPC spellings (--key=value, True/False, null) work too;
          an unreadable image in a directory is reported and skipped (exit 2).
batches   the same images at batch sizes 1, 3, 5, 8 and 64 (partial last
          batches included) give the same class ids and probabilities within
          1e-6 (float rounding differs by batch; the probabilities must not).
predict   `predict` (the training artifact's infer entry) and `infer` (the
          exported model) on the same weights and images print the same
          class ids and probabilities within 6e-6 (predict prints 5 decimals:
          up to 5e-6 of rounding, plus the 1e-6 parity bar).
json      inference.kmodel.json describes the files: the sha256 of the
          checkpoint and of both files (checked with hashlib), the input
          [-1, 1, 28, 28] with a dynamic batch, the output, the kernel count,
          the compiler version and flags, and batch-norm folding and
          convolution weight packing each recorded consistently.
targets   inference.kmodel.json lists the targets (cpu, cuda) and the CUDA
          modules (cubin architectures, then the PTX) each export holds.
gpu       `infer --use-gpu=True` and `infer` on the CPU, same model, images
          and batch size 3 (a partial last batch): same class ids,
          probabilities within 1e-5 (the GPU logits agree with the CPU ones
          to a relative 1e-5 or better, see test/unit/inference/
          GpuInferenceTest.cpp; the probabilities move by less), and the
          benchmark report names the GPU. "emulated": under the fake driver
          (KILN_CUDA_DRIVER, set by ctest), "real": exits 77 (skipped) when
          this machine has no usable GPU.
Standard library only. Prints FAIL: lines and exits 1 on any failure.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

LINE = re.compile(r"^image_name: (?P<path>.+), class_id: (?P<id>\d+), prob: (?P<prob>[01]\.\d{8})$")
PREDICT_LINE = re.compile(
    r"^image: (?P<path>.+), class_id: (?P<id>\d+), class_name: .+, prob: (?P<prob>[01]\.\d{5})$")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)
    return cond


def run(cmd, cwd=None, env=None):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    print("$ " + " ".join(cmd) + f"  (exit {r.returncode})")
    if r.returncode != 0:
        print(r.stdout + r.stderr)
    return r


def predictions(stdout, pattern=LINE):
    out = {}
    for line in stdout.splitlines():
        m = pattern.match(line)
        if m:
            out[os.path.basename(m.group("path"))] = (int(m.group("id")), float(m.group("prob")))
    return out


def case_defaults(export_model, infer, source):
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(os.path.join(source, "pretrain_models"), os.path.join(tmp, "pretrain_models"))
        os.makedirs(os.path.join(tmp, "images"))
        os.symlink(os.path.join(source, "images", "demo"), os.path.join(tmp, "images", "demo"))
        demo = sorted(f for f in os.listdir(os.path.join(source, "images", "demo"))
                      if f.endswith(".png"))
        r = run([export_model], cwd=tmp)
        check(r.returncode == 0, "export_model with no flags failed")
        for f in ("inference.kmodel", "inference.kparams", "inference.kmodel.json"):
            check(os.path.isfile(os.path.join(tmp, "output", "lenet5_infer", f)),
                  f"export_model with no flags did not write ./output/lenet5_infer/{f}")
        r = run([infer], cwd=tmp)
        check(r.returncode == 0, "infer with no flags failed")
        base = predictions(r.stdout)
        check(sorted(base) == demo, f"infer with no flags predicted {sorted(base)}, expected {demo}")
        check(all(line.startswith("image_name: ./images/demo/") for line in r.stdout.splitlines()),
              "infer's default output is not one image_name line per ./images/demo image")
        # TIPC's spellings: --key=value, True/False, null (= not given).
        r = run([infer, "--use-gpu=False", "--batch-size=8", "--model-dir=./output/lenet5_infer/",
                 "--img-path=./images/demo", "--benchmark=False", "--cpu-threads", "1"], cwd=tmp)
        check(r.returncode == 0 and predictions(r.stdout).keys() == base.keys(),
              "infer with --key=value flags failed")
        r = run([infer, "--model-dir", "null", "--img-path=null", "--benchmark", "False",
                 "--batch-size=null", "--cpu-threads", "None"], cwd=tmp)
        check(r.returncode == 0 and predictions(r.stdout).keys() == base.keys(),
              "infer with null values (= defaults) failed")
        r = run([export_model, "--model=lenet5", "--pretrained=null",
                 "--save-inference-dir=./output/again/", "--fold-bn=True",
                 "--synthetic-checks=null"], cwd=tmp)
        check(r.returncode == 0 and os.path.isfile(os.path.join(tmp, "output", "again",
                                                                "inference.kmodel")),
              "export_model with --key=value flags and null failed")
        check(not os.path.exists(os.path.join(source, "output", "again")),
              "export_model wrote into the source tree")
        # A directory with an unreadable image: it is reported and skipped,
        # the others are classified, exit 2.
        mixed = os.path.join(tmp, "mixed")
        os.makedirs(mixed)
        os.symlink(os.path.join(source, "images", "demo", demo[0]), os.path.join(mixed, demo[0]))
        with open(os.path.join(mixed, "broken.png"), "wb") as f:
            f.write(b"not an image")
        r = run([infer, "--img-path=mixed"], cwd=tmp)
        check(r.returncode == 2, f"infer on a directory with a broken image: exit {r.returncode}, "
                                 "expected 2")
        check(list(predictions(r.stdout)) == [demo[0]], "the readable image was not classified")
        err = r.stderr.strip().splitlines()
        check(len(err) == 1 and err[0].startswith("infer: ") and "broken.png" in err[0]
              and err[0].endswith("(skipped)"), f"stderr {err}")


def case_batches(infer, model_dir, images):
    results = {}
    for batch in (1, 3, 5, 8, 64):
        r = run([infer, f"--model-dir={model_dir}", f"--img-path={images}",
                 f"--batch-size={batch}", "--cpu-threads=2"])
        check(r.returncode == 0, f"infer at batch {batch} failed")
        results[batch] = predictions(r.stdout)
    names = sorted(results[1])
    check(len(names) > 0, "no predictions")
    for batch, preds in results.items():
        check(sorted(preds) == names, f"batch {batch}: predicted {len(preds)} images, "
                                      f"expected {len(names)}")
        for name in names:
            if name not in preds:
                continue
            a, b = results[1][name], preds[name]
            check(a[0] == b[0], f"{name}: class {b[0]} at batch {batch}, {a[0]} at batch 1")
            check(abs(a[1] - b[1]) <= 1e-6 + 1e-8,
                  f"{name}: prob {b[1]} at batch {batch}, {a[1]} at batch 1")

    # Boolean flags take every spelling the drivers share (tools/common
    # BoolFlags.h): alone (true, even before another option), "--flag V" and
    # "--flag=V"; TIPC's "null" is the default (False).
    spellings = {
        "alone": (["--benchmark", f"--model-dir={model_dir}"], True),
        "space": (["--benchmark", "True", f"--model-dir={model_dir}"], True),
        "attached": ([f"--model-dir={model_dir}", "--benchmark=True"], True),
        "space False": (["--benchmark", "False", f"--model-dir={model_dir}"], False),
        "null": ([f"--model-dir={model_dir}", "--benchmark=null"], False),
    }
    for what, (flags, report) in spellings.items():
        r = run([infer, *flags, f"--img-path={images}", "--cpu-threads=1", "--warmup=0"])
        check(r.returncode == 0, f"infer with --benchmark {what} failed: {r.stderr.strip()}")
        has_report = "inference_time(ms)" in r.stdout + r.stderr
        check(has_report == report,
              f"--benchmark {what}: report {'missing' if report else 'printed'}")
        check(sorted(predictions(r.stdout)) == names, f"--benchmark {what}: predictions differ")
    r = run([infer, "--benchmark", "maybe", f"--model-dir={model_dir}", f"--img-path={images}"])
    check(r.returncode != 0 and "--benchmark" in r.stderr and "maybe" in r.stderr,
          f"--benchmark maybe: expected a one-line error, got rc {r.returncode}: {r.stderr}")


def case_predict(predict, infer, model_dir, weights, images, cache):
    env = dict(os.environ, KILN_CACHE_DIR=cache)
    with tempfile.TemporaryDirectory() as tmp:
        model = json.load(open(os.path.join(model_dir, "inference.kmodel.json")))["model_name"]
        r = run([predict, f"--model={model}", f"--pretrained={weights}", f"--img-path={images}",
                 "--visualize=False", f"--save-dir={tmp}"], env=env)
        if not check(r.returncode == 0, "predict failed"):
            return
        reference = predictions(r.stdout, PREDICT_LINE)
    check(len(reference) > 0, "predict printed no predictions")
    worst = 0.0
    for batch in (1, 7):
        r = run([infer, f"--model-dir={model_dir}", f"--img-path={images}", f"--batch-size={batch}"])
        check(r.returncode == 0, f"infer at batch {batch} failed")
        got = predictions(r.stdout)
        check(sorted(got) == sorted(reference), f"infer at batch {batch} and predict saw "
                                                f"different images")
        for name, (cls, prob) in reference.items():
            if name not in got:
                continue
            check(got[name][0] == cls,
                  f"{name}: infer (batch {batch}) says class {got[name][0]}, predict {cls}")
            worst = max(worst, abs(got[name][1] - prob))
            check(abs(got[name][1] - prob) <= 6e-6,
                  f"{name}: infer (batch {batch}) prob {got[name][1]}, predict {prob}")
    print(f"predict vs infer: {len(reference)} images, same class ids, max |prob diff| "
          f"{worst:.2e} (printed values)")


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def case_json(model_dir, weights, kernels):
    j = json.load(open(os.path.join(model_dir, "inference.kmodel.json")))
    check(j["format"] == "kiln-inference-model", "format")
    check(j["source_checkpoint"]["sha256"] == sha256(weights), "sha256 of the checkpoint")
    check(j["model_sha256"] == sha256(os.path.join(model_dir, "inference.kmodel")),
          "sha256 of inference.kmodel")
    check(j["params_sha256"] == sha256(os.path.join(model_dir, "inference.kparams")),
          "sha256 of inference.kparams")
    check(j["entry"] == "infer", "entry")
    check(j["inputs"] == [{"name": "image", "dtype": "float32", "shape": [-1, 1, 28, 28],
                           "dynamic_batch": True}], f"inputs {j['inputs']}")
    check(len(j["outputs"]) == 1 and j["outputs"][0]["shape"] == [-1, 10], "outputs")
    check(len(j["kernels"]) == int(kernels), f"{len(j['kernels'])} kernels, expected {kernels}")
    check(all(k["name"].startswith("infer_k") for k in j["kernels"]), "kernel names")
    check(re.match(r"^kiln \d+\.\d+\.\d+$", j["compiler"]["version"]) is not None,
          "compiler version")
    check("fusion=on" in j["compiler"]["flags"], "compiler flags")
    check(j["compiler"]["artifact_schema_version"] == 5, "schema version")
    fold = j["batch_norm_folding"]
    check(fold["applied"] == j["compiler"]["batch_norm_folded"], "folding recorded twice")
    check(isinstance(fold["note"], str) and fold["note"], "folding note")
    pack = j["conv_weight_packing"]
    check(pack["applied"] == j["compiler"]["conv_weights_packed"], "packing recorded twice")
    check(pack["applied"] == bool(pack["packs"]), "packing applied iff something was packed")
    check(all(p["packed"] == p["source"] + ".hwio" for p in pack["packs"]), "packed names")
    check(isinstance(pack["note"], str) and pack["note"], "packing note")
    check(j["labels"][9] == "Ankle boot", "labels")


def case_targets(*pairs):
    for pair in pairs:
        model_dir, modules = pair.split("=")
        j = json.load(open(os.path.join(model_dir, "inference.kmodel.json")))
        if modules == "none":
            check(j["targets"] == ["cpu"], f"{model_dir}: targets {j['targets']}, expected [cpu]")
            check(j["cuda"] is None, f"{model_dir}: cuda {j['cuda']}, expected null")
            check("cuda=" not in j["compiler"]["flags"], f"{model_dir}: flags name CUDA")
            continue
        want = modules.split(",")
        check(j["targets"] == ["cpu", "cuda"], f"{model_dir}: targets {j['targets']}")
        cuda = j["cuda"] or {}
        check(cuda.get("architectures") == want,
              f"{model_dir}: CUDA modules {cuda.get('architectures')}, expected {want}")
        check(cuda.get("cubin") == [m for m in want if m.startswith("sm_")], f"{model_dir}: cubin")
        check(cuda.get("ptx") == [m for m in want if m.startswith("compute_")], f"{model_dir}: ptx")
        check(re.match(r"^\d+\.\d+$", cuda.get("nvrtc_version", "")) is not None,
              f"{model_dir}: nvrtc_version {cuda.get('nvrtc_version')}")
        check(0 < cuda.get("distinct_kernels", 0) <= len(j["kernels"]),
              f"{model_dir}: distinct_kernels {cuda.get('distinct_kernels')}")
        real = [m for m in want if m.startswith("sm_")]
        check(f"cuda={','.join(real)}" in j["compiler"]["flags"],
              f"{model_dir}: flags {j['compiler']['flags']} lack cuda={','.join(real)}")


def case_gpu(infer, model_dir, images, mode):
    common = [infer, f"--model-dir={model_dir}", f"--img-path={images}", "--batch-size=3"]
    gpu = run(common + ["--use-gpu=True", "--benchmark=True", "--warmup=1"])
    if gpu.returncode != 0 and mode == "real" and "is not usable" in gpu.stderr:
        print("skipped: no usable GPU: " + gpu.stderr.strip())
        sys.exit(77)
    if not check(gpu.returncode == 0, f"infer --use-gpu=True ({mode}) failed"):
        return
    cpu = run(common + ["--cpu-threads=1"])
    if not check(cpu.returncode == 0, "infer on the CPU failed"):
        return
    a, b = predictions(cpu.stdout), predictions(gpu.stdout)
    check(len(a) > 0 and sorted(a) == sorted(b),
          f"CPU classified {sorted(a)}, GPU {sorted(b)}")
    worst = 0.0
    for name in sorted(a):
        if name not in b:
            continue
        check(a[name][0] == b[name][0], f"{name}: class {b[name][0]} on the GPU, {a[name][0]} "
                                        "on the CPU")
        worst = max(worst, abs(a[name][1] - b[name][1]))
        check(abs(a[name][1] - b[name][1]) <= 1e-5,
              f"{name}: prob {b[name][1]} on the GPU, {a[name][1]} on the CPU")
    print(f"GPU ({mode}) vs CPU: {len(a)} images, same class ids, max |prob diff| {worst:.2e}")
    device = re.search(r"runtime_device: (.+)$", gpu.stdout, re.M)
    check(device is not None and device.group(1).startswith("gpu:0 ("),
          f"benchmark device: {device.group(1) if device else None}")
    if mode == "emulated":
        check(device is not None and device.group(1) == "gpu:0 (Kiln CPU emulator)",
              "the emulated device is not named")
    check(re.search(r"^\[.*\] kiln INFO:  GPU: .+ driver \d+\.\d+$", gpu.stdout, re.M) is not None,
          "the benchmark report has no GPU line")
    check(re.search(r"CUDA_version: \d+\.\d+$", gpu.stdout, re.M) is not None,
          "the benchmark report has no CUDA version")
    check("cpu_math_library_num_threads: 1" in gpu.stdout, "GPU runs report 1 host thread")
    check(re.search(r"data_num: " + str(len(a)) + "$", gpu.stdout, re.M) is not None,
          "data_num")


def main():
    case, args = sys.argv[1], sys.argv[2:]
    {"defaults": case_defaults, "batches": case_batches, "predict": case_predict,
     "json": case_json, "targets": case_targets, "gpu": case_gpu}[case](*args)
    if failures:
        print(f"{len(failures)} failure(s)")
        sys.exit(1)
    print(f"{case}: OK")


if __name__ == "__main__":
    main()
