#!/usr/bin/env python3
"""smia-lua against PyTorch on this machine, in one run (`make bench-pytorch`).

    python3 scripts/bench/vs_pytorch.py [--host .build/release/smia-lua] [--threads N] [--rows a,b]
                                        [--rounds R] [--table]

For each row, runs the work in PyTorch (in this process) and then the same work in smia-lua
(scripts/bench/pytorch_rows.lua, one host process per row), both on the same number of threads,
and prints one JSON line: {"row", "pytorch_seconds", "smia_seconds", "ratio"} where ratio is
PyTorch's time over smia-lua's (above 1: smia-lua is faster). The first line says what ran
(versions, threads, BLAS kernel). `--table` also prints the rows as a Markdown table at the end.
Times are the best of several calls after a warm-up call, over `--rounds` rounds (default 2)
that alternate the two sides, so that a burst of outside load spoils a row only if it lasts
through every round of one side.

The work of each row is defined in pytorch_rows.lua; this file defines the same in PyTorch:
attacks are written as torchattacks writes them, plus one forward pass that scores the
adversarial images (what a researcher needs to report a result).
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from pytorch_compare import compare, parse_args, print_header, print_table, wanted_rows

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS_LUA = os.path.join(HERE, "pytorch_rows.lua")
EPS, STEP = 8 / 255, 2 / 255


def issue_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def fixture_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 64), nn.ReLU(), nn.Linear(64, 10))


class DoubleConv(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
            nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())

    def forward(self, x):
        return self.double_conv(x)


class UNet(nn.Module):
    """milesial/Pytorch-UNet with transposed-convolution upsampling, as smia.models.unet."""

    def __init__(self, in_channels, num_classes, width, depth):
        super().__init__()
        self.inc = DoubleConv(in_channels, width)
        self.downs = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(width << (d - 1), width << d)) for d in range(1, depth + 1))
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for d in range(1, depth + 1):
            i, o = width << (depth - d + 1), width << (depth - d)
            self.ups.append(nn.ConvTranspose2d(i, i // 2, 2, stride=2))
            self.up_convs.append(DoubleConv(i, o))
        self.outc = nn.Conv2d(width, num_classes, 1)

    def forward(self, x):
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up, conv in zip(self.ups, self.up_convs):
            y = conv(torch.cat([skips.pop(), up(y)], 1))
        return self.outc(y)


def conv_bn_relu(i, o, stride=1):
    return [nn.Conv2d(i, o, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]


class Detector(nn.Module):
    """smia.models.detector: CenterNet-style, stride 4, heads heatmap, size and offset."""

    def __init__(self, in_channels, num_classes, width):
        super().__init__()
        w = width
        self.encoder = nn.ModuleList([
            nn.Sequential(*conv_bn_relu(in_channels, w, 2)),
            nn.Sequential(*conv_bn_relu(w, 2 * w, 2), *conv_bn_relu(2 * w, 2 * w)),
            nn.Sequential(*conv_bn_relu(2 * w, 4 * w, 2), *conv_bn_relu(4 * w, 4 * w)),
            nn.Sequential(*conv_bn_relu(4 * w, 8 * w, 2), *conv_bn_relu(8 * w, 8 * w))])
        self.decoder = nn.ModuleList([
            nn.Sequential(nn.ConvTranspose2d(i, o, 2, stride=2, bias=False), nn.BatchNorm2d(o), nn.ReLU())
            for i, o in [(8 * w, 4 * w), (4 * w, 2 * w)]])
        f, h = 2 * w, max(2 * w, 32)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv2d(f, h, 3, padding=1), nn.ReLU(), nn.Conv2d(h, out, 1)) for out in [num_classes, 2, 2])
        self.num_classes = num_classes

    def forward(self, x):
        features = []
        for stage in self.encoder:
            x = stage(x)
            features.append(x)
        for i, stage in enumerate(self.decoder):
            x = stage(x) + features[len(self.encoder) - 2 - i]
        return [head(x) for head in self.heads]


def centernet_targets(n, classes, side, seed=1):
    """Heatmaps with a Gaussian peak per object (1 to 4 per image), and size/offset targets."""
    g = torch.Generator().manual_seed(seed)
    hm = torch.zeros(n, classes, side, side)
    size, offset, mask = torch.zeros(n, 2, side, side), torch.zeros(n, 2, side, side), torch.zeros(n, 1, side, side)
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    for i in range(n):
        for _ in range(int(torch.randint(1, 5, (1,), generator=g))):
            c = int(torch.randint(0, classes, (1,), generator=g))
            cy, cx = (int(v) for v in torch.randint(1, side - 1, (2,), generator=g))
            sigma = 1 + float(torch.rand(1, generator=g)) * 2
            hm[i, c] = torch.maximum(hm[i, c], torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2 * sigma ** 2)))
            size[i, :, cy, cx] = torch.tensor([4 * sigma, 4 * sigma])
            offset[i, :, cy, cx] = 0.5
            mask[i, 0, cy, cx] = 1
    return hm, size, offset, mask


def detection_loss(heads, targets):
    """CenterNet's loss as smia-lua's DetectionLoss: focal(heatmap)/positives + 0.1 L1(size) + L1(offset)."""
    hm_logits, size, offset = heads
    hm, size_t, offset_t, mask = targets
    p = torch.sigmoid(hm_logits)
    positive = hm.eq(1).float()
    pos_loss = -((1 - p) ** 2) * F.logsigmoid(hm_logits) * positive
    neg_loss = -((1 - hm) ** 4) * p ** 2 * F.logsigmoid(-hm_logits) * (1 - positive)
    positives = max(float(positive.sum()), 1.0)
    focal = (pos_loss + neg_loss).sum() / positives
    masked = 2 * float(mask.sum()) + 1e-4
    l1_size = ((size - size_t) * mask).abs().sum() / masked
    l1_offset = ((offset - offset_t) * mask).abs().sum() / masked
    return focal + 0.1 * l1_size + l1_offset


def gaussian_kernel(channels, size=5, sigma=1.0):
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    k1 = torch.exp(-r ** 2 / (2 * sigma ** 2))
    k2 = torch.outer(k1, k1)
    k2 = k2 / k2.sum()
    return k2.expand(channels, 1, size, size).contiguous()


def blur(x, kernel):
    return F.conv2d(x, kernel, padding=kernel.shape[-1] // 2, groups=x.shape[1])


def score(model, x_adv, y):
    """The one forward pass that scores an attack's images (accuracy)."""
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).float().mean().item()


def fgsm(model, x, y, loss_fn=F.cross_entropy, scorer=score):
    x_adv = x.clone().requires_grad_(True)
    loss = loss_fn(model(x_adv), y)
    g, = torch.autograd.grad(loss, x_adv)
    x_adv = (x + EPS * g.sign()).clamp(0, 1).detach()
    return scorer(model, x_adv, y)


def pgd(model, x, y, steps=10):
    x_adv = (x + torch.empty_like(x).uniform_(-EPS, EPS)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = x_adv.detach() + STEP * g.sign()
        x_adv = torch.min(torch.max(x_adv, x - EPS), x + EPS).clamp(0, 1)
    return score(model, x_adv, y)


def smia(model, x, y, steps=10, alpha=1.0):
    """SMIA with the defaults of docs/api.md: the target's forward pass in one batch with the images."""
    kernel = gaussian_kernel(x.shape[1])
    x_adv = x.clone()
    n = x.shape[0]
    for it in range(1, steps + 1):
        x_adv.requires_grad_(True)
        if it == 1:
            loss = F.cross_entropy(model(x_adv), y)
        else:
            both = model(torch.cat([x_adv, x + blur(x_adv - x, kernel)]))
            out, target = both[:n], F.softmax(both[n:], 1)
            loss = F.cross_entropy(out, y) - alpha * F.cross_entropy(out, target)
        g, = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + STEP * g.sign()
        x_adv = torch.min(torch.max(x_adv, x - EPS), x + EPS).clamp(0, 1)
    return score(model, x_adv, y)


def setups():
    torch.manual_seed(1)
    labels = lambda n, k: torch.arange(n) % k
    return {
        "resnet18": lambda: (torchvision.models.resnet18(num_classes=1000), torch.rand(8, 3, 224, 224), labels(8, 1000)),
        "resnet50": lambda: (torchvision.models.resnet50(num_classes=1000), torch.rand(4, 3, 224, 224), labels(4, 1000)),
        "cnn": lambda: (issue_cnn(), torch.rand(256, 1, 28, 28), labels(256, 10)),
        "fixture_cnn": lambda: (fixture_cnn(), torch.rand(256, 1, 28, 28), labels(256, 10)),
        "unet": lambda: (UNet(1, 3, 4, 3), torch.rand(16, 1, 64, 64), torch.randint(0, 3, (16, 64, 64))),
        "detector": lambda: (Detector(3, 5, 8), torch.rand(16, 3, 64, 64), centernet_targets(16, 5, 16)),
    }


def forward(m, x, y):
    def run():
        with torch.no_grad():
            m(x)
    return run


def input_grad(m, x, y):
    def run():
        xg = x.clone().requires_grad_(True)
        torch.autograd.grad(F.cross_entropy(m(xg), y), xg)
    return run


def attack(fn, **kw):
    return lambda m, x, y: (lambda: fn(m, x, y, **kw))


def segmentation_score(model, x_adv, y):
    with torch.no_grad():
        return (model(x_adv).argmax(1) == y).float().mean().item()


def detection_score(model, x_adv, targets):
    with torch.no_grad():
        return float(torch.sigmoid(model(x_adv)[0]).amax())


ROWS = [
    ("resnet18_b8_forward", "resnet18", forward),
    ("resnet18_b8_input_grad", "resnet18", input_grad),
    ("resnet18_b8_fgsm", "resnet18", attack(fgsm)),
    ("resnet18_b8_pgd10", "resnet18", attack(pgd)),
    ("resnet18_b8_smia10", "resnet18", attack(smia)),
    ("resnet50_b4_forward", "resnet50", forward),
    ("resnet50_b4_input_grad", "resnet50", input_grad),
    ("cnn_b256_forward", "cnn", forward),
    ("cnn_b256_fgsm", "cnn", attack(fgsm)),
    ("cnn_b256_pgd10", "cnn", attack(pgd)),
    ("cnn_b256_smia10", "cnn", attack(smia)),
    ("fixture_cnn_b256_forward", "fixture_cnn", forward),
    ("fixture_cnn_b256_fgsm", "fixture_cnn", attack(fgsm)),
    ("fixture_cnn_b256_pgd10", "fixture_cnn", attack(pgd)),
    ("fixture_cnn_b256_smia10", "fixture_cnn", attack(smia)),
    ("unet_b16_step", "unet", attack(fgsm, scorer=segmentation_score)),
    ("detector_b16_step", "detector", attack(fgsm, loss_fn=detection_loss, scorer=detection_score)),
]


def main():
    parser, args = parse_args(__doc__)
    wanted = wanted_rows(parser, args, [r[0] for r in ROWS])
    print_header("vs_pytorch", args)

    def selected():
        made = setups()
        built = {}
        for name, setup, work in ROWS:
            if wanted and name not in wanted:
                continue
            if setup not in built:
                built = {setup: made[setup]()}  # one model in memory at a time
                built[setup][0].eval()
            m, x, y = built[setup]
            yield name, work(m, x, y)

    results = compare(args, selected(), ROWS_LUA, digits=4)
    if args.table:
        print_table(results, "work", lambda s: f"{s:.3f} s")


if __name__ == "__main__":
    main()
