"""The memory one block of the block-wise GraSP product needs on its own: what bounds a TransNAS-Bench-101
macro study's peak once the stored block boundaries are few (swapbench.nn.blockwise).

    python -m bench.block_floor [--channels 256,128] [--batch 32] [--out PATH]

For each part of a macro ResNet basic block with C channels in and out at 64x64 (the encoder's width for
256x256 inputs, before any stride; taken from a built network): the block, its first ReLU-conv-BatchNorm,
that ReLU-conv alone and that BatchNorm alone, a fresh process (one thread) measures the peak RSS above its
start of the steps below (and of the BatchNorm's and the ReLU-conv's upward steps in closed form,
`batchnorm_closed` and `relu_conv_closed`, the ones the block-wise product takes: their outputs, the input's
adjoint, the output gradient's cotangent and, for the conv, its weight's share; the cotangent of the input
gradient is given too, which the autograd `double` below leaves out)
  forward       a train-mode forward with a graph
  backward      the same, then the backward with respect to the input and the weights
  double        the same backward with a graph, then its backward with cotangents: one step of the upward
                sweep, the largest thing the block-wise product holds at once
in MiB and in units of one activation (B x C x W x W float32). Writes bench/results/block_floor.csv.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "block_floor.csv"
PARTS = ("basic_block", "relu_conv_bn", "relu_conv", "batchnorm", "batchnorm_closed", "relu_conv_closed")
CLOSED = ("batchnorm_closed", "relu_conv_closed")
STEPS = ("forward", "backward", "double")


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def worker(part: str, channels: int, batch: int, step: str) -> dict:
    import torch
    from torch import nn

    import swapbench
    from swapbench.nn.blockwise import batchnorm_link, relu_conv_link

    torch.set_num_threads(1)
    doublings = (channels // 64).bit_length() - 1
    if 64 << doublings != channels or not 0 <= doublings <= 3:
        raise SystemExit(f"--channels: 64, 128, 256 or 512, not {channels}")
    # layer codes 2 double the channels at stride 1, then a code 1 layer keeps them: its first block is C -> C
    codes = (2,) * doublings + (1,) * (4 - doublings)
    net = swapbench.build_network("tnb101_macro", codes + (0,) * (6 - len(codes)), "class_scene", seed=0)
    block = net.encoder.layers[2 * doublings]
    rcb = block.main[0]
    module = {"basic_block": block, "relu_conv_bn": rcb, "relu_conv": nn.Sequential(rcb[0], rcb[1]),
              "batchnorm": rcb[2], "batchnorm_closed": rcb[2], "relu_conv_closed": nn.Sequential(rcb[0], rcb[1]),
              }[part].train()
    del net
    width = 64
    x = torch.randn(batch, channels, width, width, requires_grad=part not in CLOSED)
    d = torch.randn_like(x)
    weights = [p for p in module.parameters()]
    cotangents = [torch.randn_like(w) for w in weights]
    if part in CLOSED:  # the link's upward step in closed form (its `double`), no graph at all
        link = batchnorm_link(module) if part == "batchnorm_closed" else relu_conv_link(*module)
        g_of = {id(w): c for w, c in zip(weights, cotangents, strict=True)} if part == "relu_conv_closed" else {}
        bar = torch.randn_like(x)
        assert link.up_step is not None
        before = _kib("VmRSS")
        assert link.up_step((x,), [d], [bar], g_of) is not None
    else:
        before = _kib("VmRSS")
        out = module(x)
    if step != "forward" and part not in CLOSED:
        firsts = torch.autograd.grad(out, [x, *weights], d, create_graph=step == "double")
        if step == "double":
            torch.autograd.grad(firsts[1:], [x, *weights], cotangents, allow_unused=True)
    peak_mib = (_kib("VmHWM") - before) / 1024
    tensor_mib = x.numel() * 4 / 2**20
    return {"part": part, "channels": channels, "width": width, "batch": batch, "step": step,
            "tensor_mib": round(tensor_mib, 1), "peak_above_start_mib": round(peak_mib),
            "in_tensors": round(peak_mib / tensor_mib, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--channels", default="256,128", help="64, 128, 256 or 512, comma-separated")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.worker:
        part, channels, batch, step = args.worker
        print(json.dumps(worker(part, int(channels), int(batch), step)))
        return 0
    rows = []
    for channels in (int(c) for c in args.channels.split(",")):
        for part in PARTS:
            for step in STEPS if part not in CLOSED else ("double",):
                cmd = [sys.executable, "-m", "bench.block_floor", "--worker", part, str(channels), str(args.batch),
                       step]
                done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise SystemExit(f"worker failed ({part}, {channels} channels, {step}):\n{done.stderr[-2000:]}")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(f"{part} {channels}x64x64, batch {args.batch}, {step}: "
                      f"{row['peak_above_start_mib']} MiB = {row['in_tensors']} activations", flush=True)
    from bench.common import write_rows

    write_rows(args.out, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
