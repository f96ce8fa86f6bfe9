"""Load an atp dump directory (written by atp::sim::Dumper) into NumPy.

A dump is DIR/manifest.json plus one .npy file per tensor; the format is
documented in simulator/include/atp/sim/dump.hpp. ``load`` checks every
file's dtype, shape and FNV-1a 64 digest against the manifest, so a notebook
never plots a stale or truncated tensor by accident.

Needs only Python 3 and NumPy (Debian's /usr/bin/python3 with numpy 1.24).
Leaves out: writing dumps (the C++ side does that) and non-float32/int64 dtypes.

Usage in a notebook::

    import atp_dump
    config, t, entries = atp_dump.load("out/ch02")
    t["W.rank0"].shape

From a shell, print a summary::

    /usr/bin/python3 notebooks/atp_dump.py out/ch02
"""

import json
import os
import sys
import warnings

import numpy as np

FORMAT = "atp-dump"
VERSION = 1
_DTYPES = {"float32": np.dtype("<f4"), "int64": np.dtype("<i8")}

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data):
    """64-bit FNV-1a of ``data`` (bytes) as 16 lowercase hex digits."""
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK64
    return "%016x" % h


def load_manifest(path):
    """Read and check DIR/manifest.json; returns the parsed dict."""
    mpath = os.path.join(path, "manifest.json")
    with open(mpath, "r", encoding="utf-8") as f:
        m = json.load(f)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ValueError("%s: 'format' is not %r" % (mpath, FORMAT))
    if m.get("version") != VERSION:
        raise ValueError("%s: unsupported version %r (valid: %d)" % (mpath, m.get("version"), VERSION))
    if not isinstance(m.get("tensors"), list):
        raise ValueError("%s: 'tensors' is not a list" % mpath)
    return m


def load_entry(path, entry, verify=True):
    """Load one manifest entry's array, checking dtype, shape and (if verify) the digest."""
    name = entry["name"]
    fname = entry["file"]
    if os.path.basename(fname) != fname or fname.startswith("."):
        raise ValueError("tensor %r: file name %r is not a plain file name" % (name, fname))
    fpath = os.path.join(path, fname)
    want_dtype = _DTYPES.get(entry["dtype"])
    if want_dtype is None:
        raise ValueError("tensor %r: dtype %r not supported (valid: %s)" % (name, entry["dtype"], ", ".join(_DTYPES)))
    a = np.load(fpath, allow_pickle=False)
    if a.dtype != want_dtype:
        raise ValueError("tensor %r (%s): dtype %s but the manifest says %s" % (name, fpath, a.dtype, entry["dtype"]))
    if list(a.shape) != list(entry["shape"]):
        raise ValueError("tensor %r (%s): shape %s but the manifest says %s" % (name, fpath, list(a.shape), entry["shape"]))
    if verify:
        digest = fnv1a64(np.ascontiguousarray(a).tobytes())
        if digest != entry["fnv1a64"]:
            raise ValueError("tensor %r (%s): fnv1a64 %s but the manifest says %s (file changed or corrupt)"
                             % (name, fpath, digest, entry["fnv1a64"]))
    return a


def load(path, verify=True):
    """Load a dump directory.

    Returns ``(config, tensors, entries)``: the config dict the C++ side
    passed, a dict name -> np.ndarray in manifest order, and the manifest's
    list of entry dicts (name, file, role, rank, shape, dtype, fnv1a64).
    Raises ValueError naming the tensor on any dtype, shape or digest
    mismatch. ``verify=False`` skips the digest (pure Python, ~10 MB/s).
    """
    m = load_manifest(path)
    tensors = {}
    for entry in m["tensors"]:
        if entry["name"] in tensors:
            raise ValueError("manifest lists tensor %r twice" % entry["name"])
        tensors[entry["name"]] = load_entry(path, entry, verify)
    return m.get("config", {}), tensors, m["tensors"]


def summary(path):
    """A printable table of a dump: config, then one line per tensor."""
    config, tensors, entries = load(path)
    lines = ["dump %s" % path, "config: %s" % json.dumps(config, sort_keys=True)]
    lines.append("%-28s %-14s %5s %-14s %-8s %s" % ("name", "role", "rank", "shape", "dtype", "min .. max"))
    for e in entries:
        a = tensors[e["name"]]
        with warnings.catch_warnings():  # an all-NaN tensor is worth listing, not warning about
            warnings.simplefilter("ignore", RuntimeWarning)
            rng = "%.6g .. %.6g" % (np.nanmin(a), np.nanmax(a)) if a.size else "(empty)"
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            rng += "  (%d NaN, %d inf)" % (np.isnan(a).sum(), np.isinf(a).sum())
        lines.append("%-28s %-14s %5d %-14s %-8s %s" % (e["name"], e["role"], e["rank"],
                                                        str(tuple(e["shape"])), e["dtype"], rng))
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: %s DUMP_DIR" % sys.argv[0])
    try:
        print(summary(sys.argv[1]))
    except (OSError, ValueError) as err:
        sys.exit("atp_dump: %s" % err)
