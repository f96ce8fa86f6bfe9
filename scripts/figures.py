#!/usr/bin/python3
"""Draws the chapters' figures from the chapter binaries' own dumps.

    /usr/bin/python3 scripts/figures.py [BUILD_DIR]

Each figure is made from numbers the project computed (run with --dump), never
typed in, and written next to the chapter README that shows it. Needs numpy
and matplotlib (scripts/setup.sh installs them for /usr/bin/python3).
"""
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.patches

matplotlib.use("Agg")
import matplotlib.pyplot as plt

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "notebooks"))
import atp_dump  # noqa: E402

build = Path(sys.argv[1] if len(sys.argv) > 1 else root / "build").resolve()


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


def chapter7():
    """The collective timeline of chapter 7, drawn from the trace the binary dumps."""
    binary = build / "chapters/07-tensor-parallel-decoder/atp-ch07-tensor-parallel-decoder"
    runs = {}
    for p in (1, 2, 4, 8):
        with tempfile.TemporaryDirectory() as d:
            subprocess.run([str(binary), "--tp", str(p), "--steps", "4", "--dump", d], check=True, capture_output=True)
            config, _, _ = atp_dump.load(d)
            runs[p] = config
    kinds = [("embed", "embedding all-reduce", "#4c72b0"), ("attn", "attention o_proj all-reduce", "#dd8452"),
             ("mlp", "MLP down all-reduce", "#55a868"), ("lm_head", "LM head all-gather", "#c44e52")]

    def kind(label):
        for key, _, _ in kinds:
            if "." + key in label:
                return key
        raise ValueError("unknown collective label " + label)

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 3.6), constrained_layout=True,
                                 gridspec_kw={"width_ratios": [2.3, 1]})
    timeline = runs[4]["timeline"]
    colors = {k: c for k, _, c in kinds}
    for row, step in enumerate(timeline):
        x = 0.0
        for c in step["collectives"]:
            w = c["bytes_sent"] / 768.0  # one decode step's (1, 64) all-reduce is one unit
            ax.barh(row, w, left=x, height=0.6, color=colors[kind(c["label"])], edgecolor="white")
            x += w
    ax.set_yticks(range(len(timeline)))
    ax.set_yticklabels([f"prefill ({s['tokens_in']} tokens)" if s["step"] == 0 else f"decode step {s['step']}"
                        for s in timeline])
    ax.invert_yaxis()
    ax.set_xlabel("bytes rank 0 sends, in units of one decode all-reduce (768 B at p = 4)")
    ax.set_title("Every token step: 1 + 2L = 11 all-reduces, then the logits all-gather (p = 4, L = 5)")
    ax.legend(handles=[matplotlib.patches.Patch(color=c, label=n) for _, n, c in kinds], loc="lower right",
              fontsize=8)
    ps = sorted(runs)
    bottom = [0.0] * len(ps)
    for key, name, color in kinds:
        vals = [sum(c["bytes_sent"] for c in runs[p]["timeline"][1]["collectives"] if kind(c["label"]) == key)
                for p in ps]
        bx.bar([str(p) for p in ps], vals, bottom=bottom, color=color, label=name)
        bottom = [b + v for b, v in zip(bottom, vals)]
    bx.set_xlabel("p (ranks)")
    bx.set_ylabel("bytes one rank sends per decode step")
    bx.set_title("Per rank, one decode step, against p")
    out = root / "chapters/07-tensor-parallel-decoder/figures/collective-timeline"
    out.parent.mkdir(exist_ok=True)
    for ext in ("png", "svg"):
        fig.savefig(f"{out}.{ext}", dpi=100, metadata={"Date": None} if ext == "svg" else {})
        print("wrote", f"{out.relative_to(root)}.{ext}")


if __name__ == "__main__":
    chapter0()
    chapter7()
