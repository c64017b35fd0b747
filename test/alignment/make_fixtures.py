#!/usr/bin/python3
"""Writes the PyTorch alignment fixtures that test/alignment/AlignmentTest.cpp checks Kiln against.

Regenerate (needs python3-torch and numpy, and Debian's dataset-fashion-mnist):

    /usr/bin/python3 test/alignment/make_fixtures.py            # rewrites test/alignment/fixtures/
    /usr/bin/python3 test/alignment/make_fixtures.py --check    # regenerates in memory and compares

Everything is seeded (torch.manual_seed per model from SEED, see "The test
point" below; the batch is the first 8 test images; the running statistics
come from the first 256 training images). Generating searches for the test
point (a few minutes for resnet20) and records it in config.txt; --check
rebuilds that point and compares every file with a relative tolerance, since
torch's CPU kernels may differ in the last bits between CPUs. The C++ tests
never need torch: the fixtures are committed (4 MB).

For each model (bench/torch_models.py, the one PyTorch copy of Kiln's
frontend/src/Models.cpp, same parameter names and layouts), fixtures/<model>/ holds:

    config.txt          the training hyperparameters (the C++ test compiles
                        Kiln's train_step with exactly these)
    manifest.txt        one line per Kiln parameter: name, trainable (1) or
                        buffer (0), shape; the order of the flat files below
    params_initial.npy  every parameter and buffer, flat f32, manifest order
    images.npy          the batch, [8, 1, 28, 28], preprocessed like tools/data
    target.npy          its one-hot labels [8, 10]
    logits_eval.npy     eval-mode logits (model.eval(): BN running statistics),
    loss_eval.npy       and the cross-entropy of them: what infer/eval_step return
    grads_step1.npy     the gradient of the training-mode loss at the initial
                        weights, trainable parameters only, manifest order
    lrs.npy             the learning rate of each of the 5 steps
    losses.npy          the training-mode loss at each of the 5 SGD steps
    params_step5.npy    every parameter and buffer after the 5 steps (weights,
                        BN running statistics)

The test point. The initial weights are Kiln's initialisation in
distribution (torch_models.init_like_kiln) with batch-norm weights drawn from
U(0.5, 1.5) and running statistics set to those of 256 training images, so
every batch-norm term matters and eval-mode activations keep their scale.
ReLU and max pooling are not differentiable everywhere, and resnet20 on 8
images has 1.15 million ReLU inputs: at a random point about one of them lies
within float32 rounding (~1e-6 of its tensor's RMS) of 0, where float32 and
float64 take different sides. One such flip moves every upstream gradient by
~1/sqrt(N) (measured: 1.3 % in resnet20, PyTorch float32 against float64), so
no tolerance of 1e-4 can hold there. Hence:
  - the biases in front of every ReLU (conv/linear bias in lenet5, batch-norm
    bias in resnet20) are set so that each channel's kink lies in the middle of
    the widest gap between its input values on the batch (25-75 % of the
    units stay active), and the seed is the first whose point keeps every ReLU
    input and every max-pool runner-up at least STEP1_MARGIN (relative to the
    tensor's RMS) from its kink: the step-1 gradients are then far from any
    kink and are checked strictly;
  - the later steps cannot be kept away from kinks (the weights move), so the
    peak learning rate is the largest of the model's peak_lrs for which
    flipping every ReLU input within FLIP_BAND of 0 (both ways, all at once: a
    superset of what float32 rounding can flip) changes no loss by more than
    LOSS_SENSITIVITY and no parameter by more than PARAM_SENSITIVITY (relative
    L2 per tensor), and no max-pool runner-up comes within FLIP_BAND at any
    step. The C++ tolerances on the loss curve and the final parameters sit
    above these. The result: resnet20 trains at a peak learning rate of 1e-4
    (its loss falls 0.6 % in 5 steps), lenet5 at 0.1 (4 %).

The reference values are computed by PyTorch in float64 from these float32
weights and images (hyperparameters rounded to float32, as Kiln holds them),
then stored as float32: Kiln's float32 results are compared with the exact
answer, not with another float32 rounding of it. The script also runs PyTorch
in float32 and prints how far that lands from float64 under the same metrics.

Optimiser: torch.optim.SGD with momentum 0.9 and coupled weight decay 5e-4 for
both models; resnet20 with Nesterov momentum and no label smoothing (the
recipe of its training run), lenet5 with plain momentum and label smoothing 0.1
(so both code paths are covered). The learning rate changes every step (a
warm-up ramp), as Kiln's lr input does.
"""
import argparse
import contextlib
import copy
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))

SKIP = 77  # ctest's SKIP_RETURN_CODE for the --check test

try:
    import numpy as np
    import torch
    import torch.nn.functional as F

    import fashion_mnist
    import torch_models
except Exception as e:  # ImportError, or a broken install
    torch = None
    _import_error = f"{type(e).__name__}: {e}".splitlines()[0]

SEED = 20240601
BATCH = 8
STEPS = 5
CALIBRATION_IMAGES = 256
CONFIGS = {
    "lenet5": dict(momentum=0.9, nesterov=False, weight_decay=5e-4, label_smoothing=0.1,
                   peak_lrs=(0.1, 0.05, 0.02, 0.01)),
    # 1.15 million ReLU inputs: the learning rate must stay small for a float32
    # flip not to show in the later losses (see "The test point").
    "resnet20": dict(momentum=0.9, nesterov=True, weight_decay=5e-4, label_smoothing=0.0,
                     peak_lrs=(1e-3, 5e-4, 2e-4, 1e-4, 5e-5)),
}
# See "The test point" above. FLIP_BAND is 4x the largest RMS error of
# PyTorch's float32 activations against float64 measured at these points
# (2.4e-6, resnet20's last layer). The sensitivities stay 3x under the C++
# test's tolerances (1e-5 on losses, 5e-5 on final parameters).
STEP1_MARGIN = 1e-4
FLIP_BAND = 1e-5
LOSS_SENSITIVITY = 3e-6
PARAM_SENSITIVITY = 1.7e-5
MAX_SEEDS = 30


def f32(v):
    """A Python float holding the float32 rounding of v (what Kiln's f32 constants hold)."""
    return float(np.float32(v))


class _BandReLU(torch.autograd.Function if torch else object):
    """relu whose backward passes the gradient where x > threshold (relu's own: 0)."""

    @staticmethod
    def forward(ctx, x, threshold):
        ctx.save_for_backward(x)
        ctx.threshold = threshold
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (x > ctx.threshold).to(grad.dtype), None


@contextlib.contextmanager
def recording_kinks(flip_band=0.0):
    """Records the input of every F.relu and F.max_pool2d call (the models' only
    kinks). With flip_band b != 0, relu's backward treats inputs within |b| x
    RMS of 0 as on the other side: b < 0 passes the gradient of small negative
    inputs, b > 0 blocks that of small positive ones."""
    rec = {"relu": [], "pool": []}
    relu, max_pool2d = F.relu, F.max_pool2d

    def recording_relu(x, inplace=False):
        rec["relu"].append(x.detach())
        if flip_band == 0.0:
            return relu(x, inplace)
        return _BandReLU.apply(x, flip_band * float(x.detach().pow(2).mean().sqrt()))

    def recording_max_pool2d(x, *args, **kwargs):
        rec["pool"].append(x.detach())
        return max_pool2d(x, *args, **kwargs)

    F.relu, F.max_pool2d = recording_relu, recording_max_pool2d
    try:
        yield rec
    finally:
        F.relu, F.max_pool2d = relu, max_pool2d


def kink_biases(name, model):
    """The per-channel bias added last before each F.relu call, in call order."""
    if name == "lenet5":
        return [model.conv1.bias, model.conv2.bias, model.fc1.bias, model.fc2.bias]
    biases = [model.bn1.bias]
    for layer in (model.layer1, model.layer2, model.layer3):
        for block in layer:
            biases += [block.bn1.bias, block.bn2.bias]  # relu(bn1), relu(bn2 + shortcut)
    return biases


def place_kinks_in_gaps(name, model, images):
    """Sets the biases in front of every ReLU so that, on the fixed batch in
    training mode, each channel's ReLU kink lies in the middle of the widest
    gap between its input values (among the middle half of them, so that a
    natural 25-75 % of the units stay active)."""
    m64 = copy.deepcopy(model).double().train()
    x = torch.from_numpy(images).double()
    biases64 = kink_biases(name, m64)
    with torch.no_grad():
        for k, bias in enumerate(biases64):
            with recording_kinks() as rec:
                m64(x)
            values = rec["relu"][k].transpose(0, 1).reshape(bias.numel(), -1)
            for c in range(bias.numel()):
                v = torch.sort(values[c]).values
                lo, hi = len(v) // 4, (3 * len(v)) // 4
                middle = v[lo:hi + 1]
                gaps = middle[1:] - middle[:-1]
                i = int(torch.argmax(gaps))
                bias[c] -= 0.5 * (middle[i] + middle[i + 1])
            # Kiln holds float32: place the float32 value the fixture will hold.
            bias.copy_(bias.float().double())
        for b32, b64 in zip(kink_biases(name, model), biases64):
            b32.copy_(b64.float())


def relu_margin(rec):
    """The smallest |ReLU input| relative to the RMS of its tensor."""
    return min((float(x.abs().min() / x.pow(2).mean().sqrt()) for x in rec["relu"]),
               default=float("inf"))


def pool_margin(rec):
    """The smallest gap between a 2x2 max-pool window's maximum and runner-up,
    relative to the RMS of the tensor. Exact ties are left out: they come from
    identical inputs (the constant background), whose weight gradients are the
    same whichever of them wins."""
    margin = float("inf")
    for x in rec["pool"]:
        n, c, h, w = x.shape
        windows = x[:, :, :h // 2 * 2, :w // 2 * 2].reshape(n, c, h // 2, 2, w // 2, 2)
        windows = windows.permute(0, 1, 2, 4, 3, 5).reshape(-1, 4)
        top2 = torch.topk(windows, 2, dim=1).values
        gap = top2[:, 0] - top2[:, 1]
        gap = gap[gap > 0]
        if gap.numel():
            margin = min(margin, float(gap.min() / x.pow(2).mean().sqrt()))
    return margin


def initial_model(name, seed, calibration, images):
    """The float32 model whose state is params_initial.npy."""
    torch.manual_seed(seed)
    model = torch_models.build(name)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.normal_(0.0, 0.2)  # the ones in front of a ReLU are placed next
    place_kinks_in_gaps(name, model, images)
    with torch.no_grad():
        if bns:
            # Running statistics of real data: one training-mode pass with
            # momentum 1 copies the batch statistics (unbiased variance). In
            # float64, so that the rounded float32 values do not depend on the
            # CPU's float32 kernels.
            calibrated = copy.deepcopy(model).double()
            for bn in calibrated.modules():
                if isinstance(bn, torch.nn.BatchNorm2d):
                    bn.momentum = 1.0
            calibrated.train()
            calibrated(torch.from_numpy(calibration).double())
            state = calibrated.state_dict()
            for key, value in model.state_dict().items():
                if key.endswith(("running_mean", "running_var")):
                    value.copy_(state[key].float())
    return model


def run_reference(model, images, labels, cfg, lrs, dtype, flip_band=0.0):
    """Eval logits/loss, the step-1 gradients, the losses of the steps, the final
    state and the kink margins of each step's forward, in `dtype`."""
    model = copy.deepcopy(model).to(dtype)
    x = torch.from_numpy(images).to(dtype)
    y = torch.from_numpy(labels)
    smoothing = f32(cfg["label_smoothing"])
    out = {}
    model.eval()
    with torch.no_grad():
        logits = model(x)
        out["logits_eval"] = logits
        out["loss_eval"] = F.cross_entropy(logits, y, label_smoothing=smoothing).reshape(1)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=f32(lrs[0]), momentum=f32(cfg["momentum"]),
                          nesterov=cfg["nesterov"], weight_decay=f32(cfg["weight_decay"]))
    losses, relu_margins, pool_margins = [], [], []
    for step, lr in enumerate(lrs):
        for group in opt.param_groups:
            group["lr"] = f32(lr)
        opt.zero_grad(set_to_none=True)
        with recording_kinks(flip_band) as rec:
            loss = F.cross_entropy(model(x), y, label_smoothing=smoothing)
            loss.backward()
        relu_margins.append(relu_margin(rec))
        pool_margins.append(pool_margin(rec))
        if step == 0:
            out["grads"] = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
        opt.step()
        losses.append(loss.detach())
    out["losses"] = torch.stack(losses)
    out["relu_margins"], out["pool_margins"] = relu_margins, pool_margins
    out["state_step5"] = torch_models.kiln_state(model)
    return out


def as_f32(t):
    return t.detach().to(torch.float32).contiguous().numpy()


def lr_ramp(peak):
    """The 5 learning rates: a linear warm-up to `peak`, rounded to float32."""
    return [f32(peak * (k + 1) / STEPS) for k in range(STEPS)]


def flip_sensitivity(model, images, labels, cfg, lrs, ref):
    """The largest change of a loss (relative) and of a final parameter tensor
    (relative L2) when every ReLU input within FLIP_BAND of 0 flips, either way."""
    loss_change = param_change = 0.0
    for band in (-FLIP_BAND, FLIP_BAND):
        run = run_reference(model, images, labels, cfg, lrs, torch.float64, flip_band=band)
        loss_change = max(loss_change, float(torch.max(
            torch.abs(run["losses"] - ref["losses"]) / torch.abs(ref["losses"]))))
        for k, v in ref["state_step5"].items():
            param_change = max(param_change, rel_l2(run["state_step5"][k].numpy(), v.numpy()))
    return loss_change, param_change


def choose_point(name, images, labels, seed=None, peak=None):
    """The test point (see the module doc): (seed, peak lr, model, reference run,
    flip sensitivity). With seed and peak given, only that point is rebuilt."""
    _, calibration = batch_and_calibration()
    cfg = CONFIGS[name]
    seeds = [seed] if seed is not None else range(SEED, SEED + MAX_SEEDS)
    for s in seeds:
        model = initial_model(name, s, calibration, images)
        for p in ([peak] if peak is not None else cfg["peak_lrs"]):
            ref = run_reference(model, images, labels, cfg, lr_ramp(p), torch.float64)
            first = min(ref["relu_margins"][0], ref["pool_margins"][0])
            print(f"  {name}: seed {s}, peak lr {p:g}: step-1 kink margin {first:.1e}",
                  end="", flush=True)
            if first < STEP1_MARGIN:
                print(": too close, next seed")
                break
            if peak is not None:  # --check: the committed point, no search
                print()
                return s, p, model, ref, (float("nan"), float("nan"))
            if min(ref["pool_margins"]) < FLIP_BAND:
                print(f": a max-pool runner-up within {FLIP_BAND:g} at a later step")
                continue
            sensitivity = flip_sensitivity(model, images, labels, cfg, lr_ramp(p), ref)
            print(f"; flips within {FLIP_BAND:g} move a loss by {sensitivity[0]:.1e}, a "
                  f"parameter by {sensitivity[1]:.1e}")
            if sensitivity[0] <= LOSS_SENSITIVITY and sensitivity[1] <= PARAM_SENSITIVITY:
                return s, p, model, ref, sensitivity
    sys.exit(f"make_fixtures: {name}: no test point found (seeds {list(seeds)[:1]}.., "
             f"peak learning rates {cfg['peak_lrs'] if peak is None else peak})")


def read_point(config_path):
    """(seed, peak lr) recorded in a committed config.txt, or (None, None)."""
    try:
        with open(config_path) as f:
            values = dict(line.split()[:2] for line in f
                          if line.strip() and not line.startswith("#"))
        return int(values["point_seed"]), float(values["point_peak_lr"])
    except (OSError, KeyError, ValueError):
        return None, None


def fixture_arrays(name, images, labels, seed=None, peak=None):
    """Every fixture file of `name` as {file name: np.float32 array or text}, and the run."""
    cfg = CONFIGS[name]
    seed, peak, model, ref, sensitivity = choose_point(name, images, labels, seed, peak)
    state = torch_models.kiln_state(model)
    trainable = {k for k, _ in model.named_parameters()}
    names = list(state)
    files = {
        "config.txt": "".join([
            "# Kiln TrainingOptions of the steps (written by make_fixtures.py)\n",
            "optimizer sgd\n",
            f"momentum {cfg['momentum']!r}\n",
            f"nesterov {int(cfg['nesterov'])}\n",
            f"weight_decay {cfg['weight_decay']!r}\n",
            f"label_smoothing {cfg['label_smoothing']!r}\n",
            f"steps {STEPS}\n",
            "# The test point (make_fixtures.py's doc): torch seed and peak learning rate\n",
            f"point_seed {seed}\n",
            f"point_peak_lr {peak!r}\n",
            f"# step-1 kink margin {min(ref['relu_margins'][0], ref['pool_margins'][0]):.1e}; "
            f"flipping every ReLU within {FLIP_BAND:g} of 0 moves a loss by {sensitivity[0]:.1e} "
            f"and a final parameter tensor by {sensitivity[1]:.1e} (relative)\n",
        ]),
        "manifest.txt": "".join(
            f"{k} {int(k in trainable)} {'x'.join(str(d) for d in state[k].shape)}\n"
            for k in names),
        "params_initial.npy": np.concatenate([as_f32(state[k]).ravel() for k in names]),
        "images.npy": images,
        "target.npy": np.eye(10, dtype=np.float32)[labels],
        "logits_eval.npy": as_f32(ref["logits_eval"]),
        "loss_eval.npy": as_f32(ref["loss_eval"]),
        "grads_step1.npy": np.concatenate(
            [as_f32(ref["grads"][k]).ravel() for k in names if k in trainable]),
        "lrs.npy": np.array(lr_ramp(peak), dtype=np.float32),
        "losses.npy": as_f32(ref["losses"]),
        "params_step5.npy": np.concatenate([as_f32(ref["state_step5"][k]).ravel() for k in names]),
    }
    return files, (model, ref, names, trainable, lr_ramp(peak))


_DATA = {}


def batch_and_calibration(data_path=None):
    """The fixed batch (the first BATCH test images) and the calibration images
    (the first training ones)."""
    if "batch" not in _DATA:
        path = data_path or fashion_mnist.DEFAULT_PATH
        test_images, test_labels = fashion_mnist.load("test", path)
        train_images, _ = fashion_mnist.load("train", path)
        _DATA["batch"] = (fashion_mnist.normalize(test_images[:BATCH]), test_labels[:BATCH])
        _DATA["calibration"] = fashion_mnist.normalize(train_images[:CALIBRATION_IMAGES])
    return _DATA["batch"], _DATA["calibration"]


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def print_f32_baseline(name, images, labels, model, ref, names, trainable, lrs):
    """How far PyTorch's own float32 run is from float64, in the C++ test's metrics."""
    r32 = run_reference(model, images, labels, CONFIGS[name], lrs, torch.float32)
    logits_diff = np.abs(as_f32(r32["logits_eval"]) - as_f32(ref["logits_eval"]))
    grad_rel = max(rel_l2(as_f32(r32["grads"][k]), as_f32(ref["grads"][k]))
                   for k in names if k in trainable)
    loss_rel = np.max(np.abs(as_f32(r32["losses"]) - as_f32(ref["losses"])) /
                      np.abs(as_f32(ref["losses"])))
    param_rel = max(rel_l2(as_f32(r32["state_step5"][k]), as_f32(ref["state_step5"][k]))
                    for k in names)
    print(f"  PyTorch float32 vs float64: logits mean abs {logits_diff.mean():.3g} (max "
          f"{logits_diff.max():.3g}), worst gradient rel L2 {grad_rel:.3g}, worst loss rel "
          f"{loss_rel:.3g}, worst final parameter rel L2 {param_rel:.3g}")


def compare(name, fresh, committed_dir):
    """--check: the committed fixtures against a fresh run; returns a list of failures."""
    failures = []
    for fname, value in fresh.items():
        path = os.path.join(committed_dir, fname)
        if not os.path.exists(path):
            failures.append(f"{name}/{fname}: missing")
            continue
        if fname.endswith(".txt"):
            def significant(text):  # comments hold measured figures
                return [line for line in text.splitlines() if not line.startswith("#")]

            with open(path) as f:
                if significant(f.read()) != significant(value):
                    failures.append(f"{name}/{fname}: differs from the script's")
            continue
        old = np.load(path)
        if old.shape != value.shape or old.dtype != value.dtype:
            failures.append(f"{name}/{fname}: {old.dtype}{old.shape}, the script gives "
                            f"{value.dtype}{value.shape}")
            continue
        # Torch's CPU kernels may differ in the last bits between CPUs (vectorised
        # paths), which float64 keeps far below this.
        err = rel_l2(old, value)
        if err > 1e-6:
            failures.append(f"{name}/{fname}: rel L2 {err:.3g} from a fresh run (> 1e-6)")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(HERE, "fixtures"),
                        help="fixture directory (default: test/alignment/fixtures)")
    parser.add_argument("--data-path", default="/usr/share/datasets/fashion-mnist",
                        help="Fashion-MNIST IDX directory")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; regenerate in memory and compare with --out "
                             f"(exit {SKIP} when torch or the dataset is missing)")
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()

    if torch is None:
        print(f"make_fixtures: skipped: cannot import torch/numpy ({_import_error}); install "
              "python3-torch (scripts/install_deps.sh --with-reference)")
        sys.exit(SKIP if args.check else 1)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    try:
        (images, labels), _ = batch_and_calibration(args.data_path)
    except fashion_mnist.DataError as e:
        print(f"make_fixtures: {'skipped: ' if args.check else ''}{e}")
        sys.exit(SKIP if args.check else 1)

    failures = []
    for name in args.models:
        out_dir = os.path.join(args.out, name)
        # --check rebuilds the committed point rather than searching again.
        seed, peak = read_point(os.path.join(out_dir, "config.txt")) if args.check else (None, None)
        files, (model, ref, names, trainable, lrs) = fixture_arrays(name, images, labels, seed,
                                                                    peak)
        if args.check:
            failures += compare(name, files, out_dir)
            continue
        os.makedirs(out_dir, exist_ok=True)
        size = 0
        for fname, value in files.items():
            path = os.path.join(out_dir, fname)
            # Write then rename: an interrupted run never leaves half a fixture.
            fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                if isinstance(value, str):
                    f.write(value.encode())
                else:
                    np.save(f, np.ascontiguousarray(value, dtype=np.float32))
            os.chmod(tmp, 0o644)  # mkstemp's 0600 is for secrets
            os.replace(tmp, path)
            size += os.path.getsize(path)
        losses = ", ".join(f"{v:.6f}" for v in as_f32(ref["losses"]))
        print(f"{name}: wrote {len(files)} files ({size / 1e6:.2f} MB) to {out_dir}; "
              f"{len(names)} tensors, losses {losses}")
        print("  " + "; ".join(line for line in files["config.txt"].splitlines()[-3:]))
        print_f32_baseline(name, images, labels, model, ref, names, trainable, lrs)
    if args.check:
        if failures:
            print("make_fixtures --check: the committed fixtures differ from the script's output:")
            for f in failures:
                print("  " + f)
            sys.exit(1)
        print(f"make_fixtures --check: the committed fixtures of {', '.join(args.models)} match "
              "a fresh run")


if __name__ == "__main__":
    main()
