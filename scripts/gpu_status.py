#!/usr/bin/python3
"""The one sentence the book uses for "CPU and GPU give the same bits", kept
true by the golden digests (tests/golden/, written only by a GPU run).

    /usr/bin/python3 scripts/gpu_status.py --check   # fail if a README disagrees with tests/golden/
    /usr/bin/python3 scripts/gpu_status.py --write   # rewrite the status lines from tests/golden/

Every chapter with a GPU half (a chapters/NN-*/*_gpu.cpp) carries one line
starting "**GPU status:**" in its README, and the root README carries the same
lines between <!-- gpu-status:begin --> and <!-- gpu-status:end -->. Until
tests/golden/chNN.json exists the line says "verified on a GPU: not yet"; once a
GPU run has written it, "verified on a GPU: yes" with the GPU and versions it
recorded. ATP_GOLDEN_DIR points at another golden folder (the test that
proves --check can fail uses it). scripts/gpu-verify.sh runs --write after writing golden files; the
test suite runs --check, so a README can never claim more (or less) than the
digests show.
"""
import json
import os
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
PREFIX = "**GPU status:**"
BEGIN, END = "<!-- gpu-status:begin -->", "<!-- gpu-status:end -->"


def chapters():
    """(number, folder) of every chapter with a GPU half, in order."""
    out = []
    for d in sorted((root / "chapters").iterdir()):
        m = re.match(r"(\d\d)-", d.name)
        if m and d.is_dir() and any(d.glob("*_gpu.cpp")):
            out.append((int(m.group(1)), d))
    return out


def status(number):
    """The status sentence of chapter `number`, from tests/golden/chNN.json."""
    golden = Path(os.environ.get("ATP_GOLDEN_DIR", root / "tests" / "golden")) / f"ch{number:02d}.json"
    head = f"{PREFIX} designed to be bitwise equal on CPU and GPU; verified on a GPU: "
    if not golden.exists():
        return head + f"not yet (no `tests/golden/ch{number:02d}.json`; only a GPU run writes it)."
    data = json.loads(golden.read_text())
    w = data.get("written_by", {})
    n = len(data.get("configs", []))
    return (head + f"yes, {n} configuration(s) on {w.get('gpu', '?')} (CUDA {w.get('cuda', '?')}, "
            f"NCCL {w.get('nccl', '?')}; `tests/golden/ch{number:02d}.json`).")


def expected_block():
    lines = [BEGIN]
    for number, folder in chapters():
        lines.append(f"- [Chapter {number}]({folder.relative_to(root).as_posix()}/README.md): "
                     + status(number).replace(PREFIX + " ", ""))
    lines.append(END)
    return "\n".join(lines)


def fix_chapter(text, number):
    want = status(number)
    found = [l for l in text.splitlines() if l.startswith(PREFIX)]
    if len(found) != 1:
        return None, f"has {len(found)} lines starting '{PREFIX}', needs exactly 1"
    return text.replace(found[0], want), None if found[0] == want else f"says '{found[0]}', should say '{want}'"


def fix_root(text):
    if BEGIN not in text or END not in text:
        return None, f"has no {BEGIN} ... {END} block"
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    want = expected_block()
    return text[:start] + want + text[stop:], None if text[start:stop] == want else "its gpu-status block is stale"


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--check"
    if mode not in ("--check", "--write"):
        print(f"gpu_status.py: unknown mode '{mode}'; use --check or --write", file=sys.stderr)
        return 2
    problems = []
    targets = [(root / "README.md", fix_root)]
    targets += [(folder / "README.md", lambda t, n=number: fix_chapter(t, n)) for number, folder in chapters()]
    for path, fix in targets:
        new, problem = fix(path.read_text())
        if new is None:
            problems.append(f"{path.relative_to(root)} {problem}")
        elif problem:
            if mode == "--write":
                path.write_text(new)
                print(f"gpu_status.py: updated {path.relative_to(root)}")
            else:
                problems.append(f"{path.relative_to(root)} {problem}")
    for p in problems:
        print("gpu_status.py: " + p, file=sys.stderr)
    if problems:
        print("gpu_status.py: README status lines disagree with tests/golden/; run "
              "/usr/bin/python3 scripts/gpu_status.py --write", file=sys.stderr)
        return 1
    print(f"gpu_status.py: {len(targets)} README(s) agree with tests/golden/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
