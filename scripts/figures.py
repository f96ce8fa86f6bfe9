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


if __name__ == "__main__":
    chapter0()
