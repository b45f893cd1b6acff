"""What the side-by-side benchmarks against PyTorch share (vs_pytorch.py, ops_vs_pytorch.py).

Their command line (--host, --threads, --rows, --rounds, --table), their first JSON line (what
ran), the timing of each row in PyTorch and in smia-lua, one JSON line per row
{"row", "pytorch_seconds", "smia_seconds", "ratio"}, and the Markdown table `--table` prints.
Each script supplies its rows: a name, and the PyTorch call to time; the smia-lua half of a row
is `smia-lua ROWS_LUA NAME`, which prints the row's seconds as its last JSON line.
"""
import argparse
import json
import math
import os
import subprocess
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def best_time(fn, budget=1.0):
    """Best wall-clock seconds of one call: a warm-up call, then at least 2 calls and `budget` seconds
    (pytorch_rows.lua and ops_rows.lua measure the same way)."""
    fn()
    best, spent, calls = math.inf, 0.0, 0
    while spent < budget or calls < 2:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent, calls = min(best, dt), spent + dt, calls + 1
    return best


def smia_seconds(host, threads, row, rows_lua):
    """The seconds smia-lua takes for `row`, timed by the host running `rows_lua`."""
    out = subprocess.run([host, "--threads", str(threads), rows_lua, row],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def parse_args(doc):
    """The options, with PyTorch set to --threads threads; returns (parser, args) so that the
    caller can reject the row names it does not know (`wanted_rows`)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.path.join(HERE, "..", "..", ".build", "release", "smia-lua"))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("SMIA_THREADS", os.cpu_count() or 1)))
    parser.add_argument("--rows", default="", help="comma-separated row names (default: all)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="times each row on both sides, alternating; each side keeps its best (default 2)")
    parser.add_argument("--table", action="store_true", help="also print a Markdown table")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be positive")
    if args.rounds < 1:
        parser.error("--rounds must be positive")
    torch.set_num_threads(args.threads)
    return parser, args


def wanted_rows(parser, args, known):
    """The row names --rows asks for (empty: all); an unknown one is a usage error."""
    wanted = [r for r in args.rows.split(",") if r]
    unknown = set(wanted) - set(known)
    if unknown:
        parser.error("unknown rows: " + ", ".join(sorted(unknown)))
    return wanted


def print_header(bench, args, **extra):
    """The first JSON line: the benchmark, threads, PyTorch's version and smia-lua's BLAS, then `extra`."""
    config = subprocess.run([args.host, "--threads", str(args.threads), "-e",
                             "local c = smia.config() print(c.blas .. ' ' .. c.blas_kernel)"],
                            check=True, capture_output=True, text=True).stdout.strip()
    print(json.dumps({"bench": bench, "threads": args.threads, "rounds": args.rounds, "torch": torch.__version__,
                      "torch_mkldnn": torch.backends.mkldnn.is_available(), "smia_blas": config, **extra}), flush=True)


def compare(args, rows, rows_lua, digits):
    """Times each (name, PyTorch call) of `rows` in PyTorch, then in smia-lua, `args.rounds` times
    in turn, each side keeping its best: a burst of load from outside then has to last through
    every round of a side to change its time. Prints each row's JSON line as it finishes
    (seconds rounded to `digits` decimals); returns the rows."""
    results = []
    for name, work in rows:
        torch_s, ours = math.inf, math.inf
        for _ in range(args.rounds):
            torch_s = min(torch_s, best_time(work))
            ours = min(ours, smia_seconds(args.host, args.threads, name, rows_lua))
        row = {"row": name, "pytorch_seconds": round(torch_s, digits), "smia_seconds": round(ours, digits),
               "ratio": round(torch_s / ours, 3)}
        results.append(row)
        print(json.dumps(row), flush=True)
    return results


def print_table(results, first_column, seconds):
    """The rows as a Markdown table after a blank line; `seconds` formats a time."""
    print(f"\n| {first_column} | PyTorch | smia-lua | PyTorch time / ours |\n| --- | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['row']} | {seconds(r['pytorch_seconds'])} | {seconds(r['smia_seconds'])} | {r['ratio']:.2f} |")
