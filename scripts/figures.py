#!/usr/bin/python3
"""Draws the chapters' figures from the chapter binaries' own dumps.

    /usr/bin/python3 scripts/figures.py [BUILD_DIR [CHAPTER ...]]   # e.g. build 8: chapter 8 only

Each figure is made from numbers the project computed (run with --dump), never
typed in, and written next to the chapter README that shows it. Needs numpy
and matplotlib (scripts/setup.sh installs them for /usr/bin/python3).
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "notebooks"))
import atp_dump  # noqa: E402

build = Path(sys.argv[1] if len(sys.argv) > 1 else root / "build").resolve()
wanted = {int(a) for a in sys.argv[2:]}


def chapter0():
    binary = build / "chapters/00-numbers-that-match/atp-ch00-numbers-that-match"
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([str(binary), "--samples", "4096", "--dump", d], check=True, capture_output=True)
        _, t, _ = atp_dump.load(d)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2), constrained_layout=True)
    for ax, name in zip(axes, ["exp", "tanh", "erf"]):
        x, e = t[f"ulp_sweep_{name}_x"][0], t[f"ulp_sweep_{name}_error"][0]
        ax.plot(x, e, ".", markersize=1.5)
        ax.axhline(0.5, color="grey", lw=0.6, ls="--")
        ax.axhline(-0.5, color="grey", lw=0.6, ls="--")
        ax.set_title(f"atp::{name}: signed error (ulp)")
        ax.set_xlabel("x")
        ax.set_ylim(-1.3, 1.3)
    axes[0].set_ylabel("(float - exact) / ulp")
    out = root / "chapters/00-numbers-that-match/figures/ulp-errors.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=100)
    print("wrote", out.relative_to(root))


def chapter8():
    """Per-rank timelines of the three encoder strategies at p = 4, from the trace.

    The binary cuts each run at its collectives (lockstep_timeline): a compute
    stretch is drawn as every rank's matmul work (blue) and its wait for the
    busiest rank (grey); a collective as a marker every rank reaches together,
    labelled with the bytes it moves. The x axis is work in MFLOP; collectives
    are not drawn to scale (chapter 10 prices them).
    """
    binary = build / "chapters/08-vision-encoder/atp-ch08-vision-encoder"
    p = 4
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([str(binary), "--tp", str(p), "--dump", d], check=True, capture_output=True)
        config, _, _ = atp_dump.load(d)
    runs = config["runs"]
    width = max(sum(max(s["flops"]) for s in r["timeline"] if not s["collective"]) for r in runs) / 1e6
    marker = width * 0.025
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 1.15 * p * len(runs) / 2 + 1), sharex=True,
                             constrained_layout=True)
    titles = {"one-rank": "A  one rank: rank 0 encodes, then broadcasts",
              "weights": "B  weights: every layer split, 2 all-reduces per block",
              "data": "C  data: whole images per rank, padded all-gather"}
    for ax, run in zip(axes, runs):
        t = 0.0
        collectives = [s for s in run["timeline"] if s["collective"]]
        for s in run["timeline"]:
            if s["collective"]:
                ax.axvspan(t, t + marker, color="tab:orange", alpha=0.8, lw=0)
                if s is collectives[-1]:  # one label per run: the collectives of a strategy are alike
                    op = s["label"].split(" ")[0].replace("all_reduce_rank_order", "all-reduce").replace("_", "-")
                    sent = sum(s["bytes"]) // 2  # each byte is counted once sent and once received
                    count = f"{len(collectives)} x " if len(collectives) > 1 else ""
                    ax.text(t + marker * 1.4, -0.95, f"{count}{op}: {sent} B sent in all ranks, each",
                            ha="left", va="top", fontsize=7)
                t += marker
                continue
            busiest = max(s["flops"]) / 1e6
            for r, f in enumerate(s["flops"]):
                ax.barh(r, f / 1e6, left=t, color="tab:blue", height=0.6)
                if busiest > f / 1e6:
                    ax.barh(r, busiest - f / 1e6, left=t + f / 1e6, color="lightgrey", height=0.6, hatch="//",
                            edgecolor="grey", lw=0)
            t += busiest
        ax.set_yticks(range(p), [f"rank {r}" for r in range(p)])
        ax.set_ylim(p - 0.4, -1.1)
        ax.set_title(titles.get(run["requested"], run["requested"]), loc="left", fontsize=10)
    axes[-1].set_xlabel("work in MFLOP (blue: matmuls; grey: waiting for the busiest rank; orange: a collective, "
                        "not to scale)")
    out = root / "chapters/08-vision-encoder/figures/strategy-timelines"
    out.parent.mkdir(exist_ok=True)
    for ext in ("png", "svg"):
        fig.savefig(f"{out}.{ext}", dpi=100)
        print("wrote", Path(f"{out}.{ext}").relative_to(root))


if __name__ == "__main__":
    for number, draw in [(0, chapter0), (8, chapter8)]:
        if not wanted or number in wanted:
            draw()
