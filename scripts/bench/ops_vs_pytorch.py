#!/usr/bin/env python3
"""smia-lua against PyTorch per operation, in one run (`make bench-ops`).

    python3 scripts/bench/ops_vs_pytorch.py [--host .build/release/smia-lua] [--threads N] [--rows a,b]
                                            [--rounds R] [--table]

Convolution, pooling and batch norm at the shapes of ResNet-18 (batch 8, 224x224 images), the
shipped U-Net and detector (batch 16, 64x64) and the small CNN (batch 256, 28x28), each as a
forward pass, an input gradient and (convolution, batch norm) a weight gradient. The rows and
their shapes are defined in scripts/bench/ops_rows.lua (read here from `ops_rows.lua list`); for
each row this script times the same operation in PyTorch (in this process), then in smia-lua
(one host process per row), both on the same number of threads, and prints one JSON line:
{"row", "pytorch_seconds", "smia_seconds", "ratio"} where ratio is PyTorch's time over
smia-lua's (above 1: smia-lua is faster). The first line says what ran. `--table` also prints
the rows as a Markdown table at the end. Times are the best of several calls after a warm-up
call, over `--rounds` rounds alternating the two sides (as in scripts/bench/vs_pytorch.py; the command line, the timing and the output are
scripts/bench/pytorch_compare.py, shared by both). Gradients are of the sum of the operation's
output: torch.autograd.grad(op(x).sum(), x) for the input, (..., weights) for the weights.
On a machine other work keeps busy, `--threads 1` gives the fairer comparison: PyTorch's
OpenMP threads spin while they wait and lose most when a core is taken from them.
"""
import json
import os
import subprocess

import torch
import torch.nn.functional as F

from pytorch_compare import compare, parse_args, print_header, print_table, wanted_rows

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS_LUA = os.path.join(HERE, "ops_rows.lua")


def operation(spec):
    """op(x, params) and the params (or None) of one row's definition, in PyTorch."""
    c = spec["input"][1]
    if spec["op"] == "conv2d":
        k = spec["kernel"]
        w = torch.randn(spec["out_channels"], c, k, k) / (k * k * c) ** 0.5
        return (lambda x, p: F.conv2d(x, p[0], stride=spec["stride"], padding=spec["padding"])), [w]
    if spec["op"] == "max_pool2d":
        return (lambda x, p: F.max_pool2d(x, spec["kernel_size"], spec.get("stride"), spec.get("padding", 0))), None
    if spec["op"] == "avg_pool2d":
        return (lambda x, p: F.avg_pool2d(x, spec["kernel_size"], spec.get("stride"), spec.get("padding", 0))), None
    if spec["op"] == "adaptive_avg_pool2d":
        return (lambda x, p: F.adaptive_avg_pool2d(x, spec["output_size"])), None
    if spec["op"] == "batch_norm":
        mean, var = torch.randn(c) * 0.1, torch.rand(c) + 0.5
        params = [torch.rand(c) + 0.5, torch.randn(c) * 0.1]
        return (lambda x, p: F.batch_norm(x, mean, var, p[0], p[1], spec["training"])), params
    raise ValueError("unknown operation " + spec["op"])


def work(spec):
    op, params = operation(spec)
    x = torch.rand(*spec["input"])
    if spec["pass"] == "forward":
        def run():
            with torch.no_grad():
                op(x, params)
    elif spec["pass"] == "input_grad":
        def run():
            xg = x.detach().requires_grad_(True)
            torch.autograd.grad(op(xg, params).sum(), xg)
    else:
        for p in params:
            p.requires_grad_(True)

        def run():
            torch.autograd.grad(op(x, params).sum(), params)
    return run


def main():
    parser, args = parse_args(__doc__)
    torch.manual_seed(1)
    listing = subprocess.run([args.host, ROWS_LUA, "list"], check=True, capture_output=True, text=True).stdout
    specs = [json.loads(line) for line in listing.splitlines() if line.strip()]
    wanted = wanted_rows(parser, args, [s["row"] for s in specs])
    print_header("ops_vs_pytorch", args, load=os.getloadavg()[0])
    selected = ((s["row"], work(s)) for s in specs if not wanted or s["row"] in wanted)
    results = compare(args, selected, ROWS_LUA, digits=5)
    if args.table:
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
        print_table(results, "operation", lambda s: f"{s * 1000:.2f} ms")


if __name__ == "__main__":
    main()
