"""PyTorch definitions of Kiln's zoo models: the one copy every PyTorch script imports.

    import torch_models                      # after sys.path.insert(0, <repo>/bench)
    model = torch_models.build("resnet20")   # initialised like Kiln's frontend
    model.state_dict().keys()                # Kiln's parameter names (+ num_batches_tracked)

They mirror frontend/src/Models.cpp layer for layer: the same shapes, FLOPs,
padding, pooling and batch-norm settings (eps 1e-5, momentum 0.1), and the
same parameter names (Kiln's layers use PyTorch's state_dict names, so a
torch state_dict maps onto a Kiln session's parameters by name; BatchNorm's
num_batches_tracked is the only extra entry, see kiln_state()).

Users: bench/inference/reference_torch.py and bench/training/reference_torch.py
(timing), bench/training/train_reference_torch.py (the accuracy reference) and
test/alignment/make_fixtures.py (the alignment fixtures).
"""
import torch
from torch import nn
import torch.nn.functional as F

MODEL_NAMES = ("lenet5", "resnet20")
NUM_CLASSES = 10
INPUT_SHAPE = (1, 28, 28)  # one 28x28 grayscale image ("image" [?, 1, 28, 28] in Kiln)


class LeNet5(nn.Module):
    """LeNet-5 on 28x28 inputs: the first conv pads by 2; ReLU and 2x2 max pooling."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, NUM_CLASSES)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # [N, 6, 14, 14]
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # [N, 16, 5, 5]
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-BN-ReLU-conv3x3-BN + identity or 1x1 conv-BN, ReLU."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(y + shortcut)


class ResNet20(nn.Module):
    """ResNet-20, the CIFAR variant (3 stages x 3 blocks, 16/32/64 channels), 1 input channel."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for stage, planes in enumerate((16, 32, 64)):
            blocks = []
            for block in range(3):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
            # layer1..layer3: Kiln's "layer<stage>.<block>." parameter prefixes.
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(64, NUM_CLASSES)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)  # Kiln's global_avg_pool + flatten
        return self.fc(x)


_CLASSES = {"lenet5": LeNet5, "resnet20": ResNet20}


def init_like_kiln(model):
    """Kiln's initialisation (frontend/src/Layers.cpp), in distribution.

    Conv2d: weight ~ N(0, 2 / fan_out) (torchvision's kaiming_normal_,
    mode="fan_out", nonlinearity="relu"), bias 0. Linear: PyTorch's default,
    U(+-1/sqrt(in_features)) for weight and bias, which nn.Linear already does.
    BatchNorm2d: weight 1, bias 0, running mean 0 / var 1, nn's defaults.
    The values differ from Kiln's (another generator); the distributions do not.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def build(name, kiln_init=True):
    """A fresh model by Kiln's name; seed torch first for reproducible weights."""
    if name not in _CLASSES:
        raise ValueError(f"unknown model '{name}' (known: {', '.join(MODEL_NAMES)})")
    model = _CLASSES[name]()
    return init_like_kiln(model) if kiln_init else model


def kiln_state(model):
    """The state_dict entries that are Kiln parameters (drops num_batches_tracked)."""
    return {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def mac_flops_per_image(model):
    """Forward FLOPs of conv2d/linear per image, 2 per multiply-add (Kiln's macFlopsPerImage)."""
    flops = []

    def conv_hook(m, inp, out):
        k = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
        flops.append(2 * out[0].numel() * k)

    def linear_hook(m, inp, out):
        flops.append(2 * out[0].numel() * m.in_features)

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *INPUT_SHAPE))
    model.train(was_training)
    for h in handles:
        h.remove()
    return sum(flops)
