"""Load an atp dump directory (written by atp::sim::Dumper) into NumPy.

A dump is DIR/manifest.json plus one .npy file per tensor; the format is
documented in simulator/include/atp/sim/dump.hpp. ``load`` checks every
file's dtype, shape and FNV-1a 64 digest against the manifest, so a notebook
never plots a stale or truncated tensor by accident.

This reader agrees with the C++ one (simulator/src/dump.cpp, npy.cpp,
json_read.cpp) on what it accepts: the same manifest rules (version 2,
"complete": true, every field checked for type and range, no key or tensor
name twice, at most 64 levels of nesting, no NaN or Infinity, at most
64 MiB) and the same .npy grammar (NumPy format 1.0 or 2.0 header of at
most 1 MiB with 'descr', 'fortran_order' and 'shape' each once, C order,
exactly the promised number of data bytes: no trailing bytes, no .npz).
Every refusal is a ``DumpError`` (a ValueError) naming the file and the
problem; no traceback from inside json or NumPy. The .npy half lives in
atp_npy.py. tests/test_npy_dump.cpp
feeds both readers the same hostile files and checks that they agree.

Needs only Python 3 and NumPy (Debian's /usr/bin/python3 with numpy 1.24).
Leaves out: writing dumps (the C++ side does that), non-float32/int64 dtypes,
and the C++ reader's memory budget (a tensor larger than memory fails in
NumPy with MemoryError here).

Usage in a notebook::

    import atp_dump
    config, t, entries = atp_dump.load("out/ch02")
    t["W.rank0"].shape

From a shell, print a summary::

    /usr/bin/python3 notebooks/atp_dump.py out/ch02
"""

import json
import math
import os
import stat
import sys
import warnings

import numpy as np

from atp_npy import DumpError, read_npy

FORMAT = "atp-dump"
VERSION = 2
MAX_DEPTH = 64                      # json_read.hpp kMaxJsonDepth
MAX_MANIFEST_BYTES = 64 << 20       # json_read.hpp kMaxJsonFileBytes
INT64_MAX = (1 << 63) - 1
INT_MAX = (1 << 31) - 1
_DTYPES = {"float32": ("<f4", 2), "int64": ("<i8", 1)}   # descr, rank in the manifest
_ENTRY_KEYS = ("name", "file", "role", "rank", "shape", "dtype", "fnv1a64")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF


def fnv1a64(data):
    """64-bit FNV-1a of ``data`` (bytes) as 16 lowercase hex digits."""
    h = _FNV_OFFSET
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & _MASK64
    return "%016x" % h


def _excerpt(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- strict JSON, as json_read.cpp -------------------------------------------

def _no_constants(name):
    raise DumpError("not valid JSON: %s is not a JSON number" % name)


def _unique_keys(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise DumpError('the key "%s" appears twice in one object' % k[:60])
        seen[k] = v
    return seen


def _check_depth_and_text(value):
    # Iterative walk: depth as nlohmann counts it (arrays and objects), strings
    # that are valid UTF-8 and finite numbers (json accepts lone surrogates and
    # reads 1e400 as inf; nlohmann refuses both).
    stack = [(value, 1 if isinstance(value, (dict, list)) else 0)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DumpError("nests deeper than %d levels of arrays and objects" % MAX_DEPTH)
        if isinstance(v, dict):
            items = list(v.keys()) + list(v.values())
        elif isinstance(v, list):
            items = v
        else:
            items = [v]
        for item in items:
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise DumpError("not valid JSON: a string holds an unpaired surrogate") from None
            elif isinstance(item, float) and not math.isfinite(item):
                # json reads 1e400 as inf; nlohmann refuses it as a number overflow.
                raise DumpError("not valid JSON: the number %r overflows a double" % item)
            elif item is not v and isinstance(item, (dict, list)):
                stack.append((item, depth + 1))


def parse_json_strict(data, where):
    """Parse ``data`` (bytes) as json_read.cpp's parse_json_strict does; DumpError on refusal."""
    try:
        text = data.decode("utf-8")
        value = json.loads(text, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except DumpError as err:
        raise DumpError("%s: %s" % (where, err)) from None
    except RecursionError:
        raise DumpError("%s: nests deeper than %d levels of arrays and objects" % (where, MAX_DEPTH)) from None
    except (ValueError, UnicodeDecodeError) as err:
        raise DumpError("%s: not valid JSON: %s" % (where, err)) from None
    try:
        _check_depth_and_text(value)
    except DumpError as err:
        raise DumpError("%s: %s" % (where, err)) from None
    return value


def _read_regular_file(path, max_bytes, what):
    try:
        st = os.stat(path)
    except OSError as err:
        raise DumpError("%s '%s': cannot open for reading: %s" % (what, path, err.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise DumpError("%s '%s' is not a regular file" % (what, path))
    if st.st_size > max_bytes:
        raise DumpError("%s '%s' has %d bytes; the limit is %d" % (what, path, st.st_size, max_bytes))
    try:
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)
    except OSError as err:
        raise DumpError("%s '%s': %s" % (what, path, err.strerror)) from None


def _int_in(value, lo, hi, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or value > hi:
        raise DumpError("%s must be an integer in [%d, %d], got %s" % (what, lo, hi, _excerpt(value)))
    return value


def _string(value, what):
    if not isinstance(value, str):
        raise DumpError("%s must be a string, got %s" % (what, _excerpt(value)))
    return value


def _check_name(name, what):
    if not name:
        raise DumpError("dump %s must not be empty" % what)
    if any(c not in _NAME_CHARS for c in name):
        raise DumpError("dump %s '%s' has a character outside letters, digits, '_', '-', '.'" % (what, name[:60]))
    if name[0] == ".":
        raise DumpError("dump %s '%s' must not start with '.'" % (what, name))


def _check_entry(t, index):
    what = "tensor entry %d" % index
    if not isinstance(t, dict):
        raise DumpError("%s must be an object, got %s" % (what, _excerpt(t)))
    for key in t:
        if key not in _ENTRY_KEYS:
            raise DumpError('%s has an unknown key "%s" (valid: %s)' % (what, key[:40], ", ".join(_ENTRY_KEYS)))
    for key in _ENTRY_KEYS:
        if key not in t:
            raise DumpError('%s has no "%s"' % (what, key))
    name = _string(t["name"], what + ' "name"')
    _check_name(name, "tensor name")
    named = "tensor '%s'" % name
    if _string(t["file"], named + ' "file"') != name + ".npy":
        raise DumpError('%s has "file" "%s"; expected "%s.npy"' % (named, str(t["file"])[:60], name))
    _check_name(_string(t["role"], named + ' "role"'), "role")
    _int_in(t["rank"], -1, INT_MAX, named + ' "rank"')
    dtype = _string(t["dtype"], named + ' "dtype"')
    if dtype not in _DTYPES:
        raise DumpError('%s has dtype "%s" (valid: float32, int64)' % (named, dtype[:40]))
    rank = _DTYPES[dtype][1]
    shape = t["shape"]
    if not isinstance(shape, list) or len(shape) != rank:
        raise DumpError("%s (%s) needs a shape of %d dimension%s, got %s"
                        % (named, dtype, rank, "" if rank == 1 else "s", _excerpt(shape)))
    for d in shape:
        _int_in(d, 0, INT64_MAX, named + " shape dimension")
    digest = _string(t["fnv1a64"], named + ' "fnv1a64"')
    if len(digest) != 16 or any(c not in "0123456789abcdef" for c in digest):
        raise DumpError('%s has fnv1a64 "%s", expected 16 lowercase hex digits' % (named, digest[:40]))


def load_manifest(path):
    """Read and check DIR/manifest.json as the C++ load_manifest does; returns the parsed dict."""
    mpath = os.path.join(path, "manifest.json")
    where = "dump manifest '%s'" % mpath
    m = parse_json_strict(_read_regular_file(mpath, MAX_MANIFEST_BYTES, "dump manifest"), where)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise DumpError('%s: "format" is not "%s"' % (where, FORMAT))
    version = m.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != VERSION:
        hint = ("; version 1 was written by an older build that could not mark an unfinished run: "
                "run the program again to rewrite the dump") if version == 1 and not isinstance(version, bool) else ""
        raise DumpError('%s: unsupported "version" %s (valid: %d)%s' % (where, _excerpt(version), VERSION, hint))
    if not isinstance(m.get("complete"), bool):
        raise DumpError('%s: "complete" must be true or false' % where)
    if not m["complete"]:
        raise DumpError("%s: the dump is incomplete: the run that wrote it stopped before finishing (see its error "
                        "message); its tensors are not to be trusted. Run it again" % where)
    if not isinstance(m.get("config"), dict):
        raise DumpError('%s: "config" is not an object' % where)
    if not isinstance(m.get("tensors"), list):
        raise DumpError('%s: "tensors" is not an array' % where)
    names = set()
    for index, t in enumerate(m["tensors"]):
        try:
            _check_entry(t, index)
        except DumpError as err:
            raise DumpError("%s: %s" % (where, err)) from None
        if t["name"] in names:
            raise DumpError("%s: lists the tensor '%s' twice" % (where, t["name"]))
        names.add(t["name"])
    return m


def load_entry(path, entry, verify=True):
    """Load one manifest entry's array, checking the entry, the file's shape and (if verify) the digest."""
    _check_entry(entry, 0)
    name = entry["name"]
    fpath = os.path.join(path, entry["file"])
    descr, rank = _DTYPES[entry["dtype"]]
    a, shape = read_npy(fpath, descr, rank == 2)
    if list(shape) != list(entry["shape"]):
        raise DumpError("dump tensor '%s' in '%s' has shape %s but the manifest says %s"
                        % (name, fpath, list(shape), entry["shape"]))
    if verify:
        digest = fnv1a64(a.tobytes())
        if digest != entry["fnv1a64"]:
            raise DumpError("dump tensor '%s' in '%s' has fnv1a64 %s but the manifest says %s (file changed or corrupt)"
                            % (name, fpath, digest, entry["fnv1a64"]))
    return a


def load(path, verify=True):
    """Load a dump directory.

    Returns ``(config, tensors, entries)``: the config dict the C++ side
    passed, a dict name -> np.ndarray in manifest order, and the manifest's
    list of entry dicts (name, file, role, rank, shape, dtype, fnv1a64).
    Raises DumpError (a ValueError) naming the file and the problem for
    anything the C++ reader refuses. ``verify=False`` skips the digest
    (pure Python, ~10 MB/s).
    """
    m = load_manifest(path)
    tensors = {}
    for entry in m["tensors"]:
        tensors[entry["name"]] = load_entry(path, entry, verify)
    return m["config"], tensors, m["tensors"]


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
    except (OSError, ValueError, MemoryError) as err:
        sys.exit("atp_dump: %s" % err)
