#!/usr/bin/python3
"""Draws the chapters' figures (PNG and SVG) from what the chapter binaries print or dump.

    /usr/bin/python3 scripts/figures.py [BUILD_DIR]

Each figure is made from numbers the project computed (a binary's --dump, or
the table it prints), never typed in, and written next to the chapter README
that shows it. The block diagram is drawn from the layer names and operators
the chapters define. Needs numpy and matplotlib (scripts/setup.sh installs them
for /usr/bin/python3). The notebooks draw the remaining figures.
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "atp"  # stable SVG ids, so a rerun changes nothing
matplotlib.rcParams["svg.fonttype"] = "none"
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root / "notebooks"))
import atp_dump  # noqa: E402

build = Path(sys.argv[1] if len(sys.argv) > 1 else root / "build").resolve()


def binary(folder, name):
    path = build / "chapters" / folder / name
    if not path.exists():
        sys.exit(f"figures.py: {path} is missing; build the 'tour' target first")
    return path


def run(folder, name, *args):
    return subprocess.run([str(binary(folder, name)), *args], check=True, capture_output=True, text=True).stdout


def save(fig, chapter_folder, stem):
    out = root / "chapters" / chapter_folder / "figures"
    out.mkdir(exist_ok=True)
    for ext in ("png", "svg"):
        fig.savefig(out / f"{stem}.{ext}", dpi=100, metadata={"Date": None} if ext == "svg" else None)
        print("wrote", (out / f"{stem}.{ext}").relative_to(root))
    plt.close(fig)


def chapter0():
    with tempfile.TemporaryDirectory() as d:
        run("00-numbers-that-match", "atp-ch00-numbers-that-match", "--samples", "4096", "--dump", d)
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
    save(fig, "00-numbers-that-match", "ulp-errors")


def chapter1_ring():
    """The ring's transfers at p = 4, as the binary narrates them (ring_schedule.cpp)."""
    text = run("01-ranks-and-collectives", "atp-ch01-ranks-and-collectives", "--tp", "4", "--narrate")
    steps = re.findall(r"(reduce-scatter|all-gather) step (\d+): rank (\d+) -> rank (\d+) chunk (\d+)", text)
    # the first all-reduce_ring call only (the binary narrates one ring all-reduce)
    steps = steps[: 2 * 3 * 4]
    p = 4
    fig, axes = plt.subplots(2, 3, figsize=(11, 7.2), constrained_layout=True)
    colors = plt.cm.tab10.colors
    for k, ax in enumerate(axes.flat):
        phase = "reduce-scatter" if k < 3 else "all-gather"
        s = k % 3
        moves = [m for m in steps if m[0] == phase and int(m[1]) == s]
        pos = {r: (0.0, 1.0) if r == 0 else (1.0, 0.0) if r == 1 else (0.0, -1.0) if r == 2 else (-1.0, 0.0)
               for r in range(p)}
        for r, (x, y) in pos.items():
            ax.add_patch(plt.Circle((x, y), 0.28, color="#e8eef7", ec="black", lw=1))
            ax.text(x, y, f"rank {r}", ha="center", va="center", fontsize=10)
        for _, _, src, dst, chunk in moves:
            (x0, y0), (x1, y1) = pos[int(src)], pos[int(dst)]
            ax.add_patch(FancyArrowPatch((x0 * 0.72 + x1 * 0.28, y0 * 0.72 + y1 * 0.28),
                                         (x0 * 0.28 + x1 * 0.72, y0 * 0.28 + y1 * 0.72),
                                         arrowstyle="-|>", mutation_scale=16, lw=2,
                                         color=colors[int(chunk)], connectionstyle="arc3,rad=0.25"))
            ax.text((x0 + x1) / 2 * 1.05, (y0 + y1) / 2 * 1.05, f"c{chunk}", color=colors[int(chunk)],
                    fontsize=11, ha="center", va="center", weight="bold")
        verb = "adds its own values" if phase == "reduce-scatter" else "copies"
        ax.set_title(f"{phase}, step {s}\n(each receiver {verb})", fontsize=10)
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle("NCCL's ring step pattern, one channel, p = 4: chunk c starts on rank c+1 and is complete on "
                 "rank c after 3 steps;\nthen 3 more steps copy it around (from atp-ch01 --tp 4 --narrate)",
                 fontsize=11)
    save(fig, "01-ranks-and-collectives", "ring-steps")


def chapter1_alpha_beta():
    """Predicted all-reduce time against message size, the table of section 6."""
    text = run("01-ranks-and-collectives", "atp-ch01-ranks-and-collectives", "--tp", "4")
    rows = re.findall(r"^\s+p=(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+\S+$", text, re.M)
    forms = ["ring", "one-shot", "two-shot", "tree"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), constrained_layout=True, sharey=True)
    for ax, p in zip(axes, ["2", "4", "8"]):
        data = [r for r in rows if r[0] == p]
        S = [float(r[1]) for r in data]
        for i, form in enumerate(forms):
            ax.loglog(S, [float(r[2 + i]) for r in data], "o-", ms=3, label=form)
        ax.axvline(16384, color="grey", ls=":", lw=1)
        ax.text(16384 * 1.2, ax.get_ylim()[0] * 1.5 if ax.get_ylim()[0] > 0 else 8, "decode\n(16 KiB)",
                fontsize=8, color="grey")
        ax.set_title(f"p = {p}, nvlink4 (450 GB/s, alpha 0.6 us)")
        ax.set_xlabel("message S per rank (bytes)")
        ax.grid(True, which="both", lw=0.3)
    axes[0].set_ylabel("predicted time (us)")
    axes[0].legend()
    fig.suptitle("alpha-beta model of one all-reduce (atp-ch01 section 6; figures cited in simulator/data/"
                 "hardware.json)", fontsize=10)
    save(fig, "01-ranks-and-collectives", "all-reduce-time")


def chapter4_block():
    """The transformer block with Megatron's f and g marked (the layers of chapters 2-5)."""
    steps = [("x\n(T, H)", "data"), ("norm", "local"), ("f", "f"), ("QKV\ncolumn-par.\n(heads split)", "col"),
             ("attention\nper head", "local"), ("out proj\nrow-par.", "row"), ("g", "g"), ("+ x", "local"),
             ("norm", "local"), ("f", "f"), ("up / gate_up\ncolumn-par.", "col"), ("GELU /\nSwiGLU", "local"),
             ("down\nrow-par.", "row"), ("g", "g"), ("+", "local")]
    style = {"data": ("#ffffff", "black"), "local": ("#eeeeee", "black"), "col": ("#dbe9f6", "#1f77b4"),
             "row": ("#fde3c8", "#d62728"), "f": ("#d9f0d3", "#2ca02c"), "g": ("#f6d3d3", "#d62728")}
    gap, x, xs = 0.35, 0.0, []
    for label, kind in steps:
        w = 0.7 if kind in ("f", "g") or label.startswith("+") else 1.55
        xs.append((x, w))
        x += w + gap
    fig, ax = plt.subplots(figsize=(14, 4.4), constrained_layout=True)
    ax.set_xlim(-1.2, x)
    ax.set_ylim(-0.7, 4.7)
    ax.axis("off")
    lanes = (2.55, 0.55)
    for (label, kind), (x0, w) in zip(steps, xs):
        face, edge = style[kind]
        if kind in ("f", "g"):
            ax.add_patch(FancyBboxPatch((x0, 0.35), w, 3.6, boxstyle="round,pad=0.04", fc=face, ec=edge, lw=1.5))
            ax.text(x0 + w / 2, 2.15, label, ha="center", va="center", fontsize=18, weight="bold", color=edge)
            continue
        for y in lanes:
            ax.add_patch(FancyBboxPatch((x0, y), w, 1.2, boxstyle="round,pad=0.04", fc=face, ec=edge))
            ax.text(x0 + w / 2, y + 0.6, label, ha="center", va="center", fontsize=8)
    for (x0, w), (x1, _) in zip(xs, xs[1:]):
        for y in lanes:
            ax.annotate("", xy=(x1 - 0.02, y + 0.6), xytext=(x0 + w + 0.02, y + 0.6),
                        arrowprops=dict(arrowstyle="-|>", lw=0.8, color="#555555"))
    for lane, y in enumerate(lanes):
        ax.text(-0.15, y + 0.6, f"rank {lane}", ha="right", va="center", fontsize=9)
    ax.text(x / 2, 4.45, "f: identity forward (every rank has the whole x), all-reduce backward   |   "
            "g: all-reduce forward, identity backward   (Megatron-LM, tensor_parallel/mappings.py)",
            ha="center", fontsize=9)
    ax.text(x / 2, -0.45, "one block = attention (chapter 5) + MLP (chapter 4): two all-reduces, none between a "
            "column-parallel layer and the row-parallel one after it; p = 2 ranks shown", ha="center", fontsize=9)
    save(fig, "04-parallel-mlp", "transformer-block-f-g")


def chapter4_time():
    text = run("04-parallel-mlp", "atp-ch04-parallel-mlp", "--tp", "2")
    prefill = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", text, re.M)
    decode = re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)\s+([\d.]+)x$", text, re.M)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    ps = [int(r[0]) for r in prefill]
    a.plot(ps, [float(r[1]) for r in prefill], "o-", label="nvlink4 (450 GB/s)")
    a.plot(ps, [float(r[2]) for r in prefill], "s-", label="ib-ndr (50 GB/s)")
    a.axhline(1.0, color="grey", ls="--", lw=1)
    a.set_xscale("log", base=2)
    a.set_yscale("log")
    a.set_xlabel("p")
    a.set_ylabel("communication / compute")
    a.set_title("prefill, H = 8192, bf16: (p-1) b F / (6 H B)")
    a.legend()
    dp = [int(r[0]) for r in decode]
    b.plot(dp, dp, "k:", lw=1, label="ideal (p)")
    b.plot(dp, [float(r[4]) for r in decode], "o-", label="nvlink4")
    b.plot(dp, [float(r[6]) for r in decode], "s-", label="ib-ndr")
    b.set_xscale("log", base=2)
    b.set_yscale("log", base=2)
    b.set_xlabel("p")
    b.set_ylabel("decode speed-up per block")
    b.set_title("decode (T = 1): weights / p + two all-reduce latencies")
    b.legend()
    save(fig, "04-parallel-mlp", "block-time-over-p")


def chapter5_heads():
    """Which rank holds which query and KV heads, nH = 8, nKV = 2, from the binary's section 2."""
    text = run("05-parallel-attention", "atp-ch05-parallel-attention", "--tp", "1")
    table = {}
    p = None
    for line in text.splitlines():
        m = re.match(r"\s+p=(\d+)\s+rank", line)
        if m:
            p = int(m.group(1))
            table[p] = []
            continue
        m = re.match(r"\s+(\d+)\s+(\d+(?:\.\.\d+)?)\s+(\d+(?:\.\.\d+)?)\s+(split|copy \d+ of \d+)", line)
        if m and p is not None:
            q = [int(v) for v in m.group(2).split("..")]
            table[p].append((int(m.group(1)), range(q[0], q[-1] + 1), m.group(3), m.group(4)))
        elif line.strip().startswith("3."):
            break
    fig, axes = plt.subplots(1, len(table), figsize=(13, 3.6), constrained_layout=True)
    colors = ["#1f77b4", "#ff7f0e"]
    for ax, (p, rows) in zip(axes, sorted(table.items())):
        for rank, qs, kv, how in rows:
            for h in qs:  # query head h reads KV head h // (nH / nKV) = h // 4
                ax.add_patch(plt.Rectangle((h, rank), 1, 0.8, fc=colors[h // 4], alpha=0.35, ec="black"))
                ax.text(h + 0.5, rank + 0.4, f"q{h}", ha="center", va="center", fontsize=7)
            ax.text(8.3, rank + 0.4, f"KV {kv}" + ("" if how == "split" else f" ({how})"), va="center", fontsize=7,
                    color=colors[int(kv.split("..")[0])] if ".." not in kv else "black")
        ax.set_xlim(0, 13)
        ax.set_ylim(len(rows), -0.2)
        ax.set_yticks([r + 0.4 for r in range(len(rows))])
        ax.set_yticklabels([f"rank {r}" for r in range(len(rows))], fontsize=8)
        ax.set_xticks([])
        ax.set_title(f"p = {p}", fontsize=10)
        for s in ax.spines.values():
            s.set_visible(False)
    fig.suptitle("nH = 8 query heads, nKV = 2 KV heads (colour): split while p <= 2, each KV head on p/2 ranks "
                 "beyond (vLLM's rule; from atp-ch05 section 2)", fontsize=10)
    save(fig, "05-parallel-attention", "heads-to-ranks")


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
    save(fig, "07-tensor-parallel-decoder", "collective-timeline")


if __name__ == "__main__":
    chapter0()
    chapter1_ring()
    chapter1_alpha_beta()
    chapter4_block()
    chapter4_time()
    chapter5_heads()
    chapter7()
