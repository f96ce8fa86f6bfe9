"""Read a NumPy .npy file exactly as the C++ reader (simulator/src/npy.cpp) does.

Header first: the preamble and the header dict (NumPy format 1.0 or 2.0, at
most 1 MiB, the literal numpy.save writes: keys 'descr', 'fortran_order' and
'shape' each exactly once, strings in ' or ", only spaces, tabs and newlines
between tokens), then the file's size against what the header promises, and
only then exactly those bytes. A file with trailing bytes, a huge sparse file
behind a small header, an .npz archive, Fortran order or another dtype is
refused with a DumpError naming the file and the problem.

Used by atp_dump.py; tests/test_reader_agreement.cpp holds both readers to the
same verdicts. Leaves out: every dtype but '<f4' and '<i8', memory mapping,
and the C++ reader's memory budget.
"""

import os
import stat

import numpy as np

MAX_NPY_HEADER_BYTES = 1 << 20      # npy.cpp kMaxHeaderBytes
INT64_MAX = (1 << 63) - 1


class DumpError(ValueError):
    """A dump, manifest or .npy file that this reader (like the C++ one) refuses."""


class _Header:
    """The tiny Python-literal grammar numpy.save writes; the same as npy.cpp's DictParser."""

    def __init__(self, name, text):
        self.name, self.s, self.i = name, text, 0

    def bad(self, what):
        raise DumpError("npy file '%s': %s" % (self.name, what))

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else "\0"

    def skip_ws(self):
        while self.i < len(self.s) and self.s[self.i] in " \n\t":
            self.i += 1

    def expect(self, c):
        self.skip_ws()
        if self.i >= len(self.s) or self.peek() != c:
            self.bad("expected '%s' in header at byte %d" % (c, self.i))
        self.i += 1

    def quoted(self):
        self.skip_ws()
        q = self.peek()
        if self.i >= len(self.s) or q not in "'\"":
            self.bad("expected a quoted string in header at byte %d" % self.i)
        end = self.s.find(q, self.i + 1)
        if end < 0:
            self.bad("unterminated string in header")
        out = self.s[self.i + 1:end]
        self.i = end + 1
        return out

    def boolean(self):
        self.skip_ws()
        for word, value in (("True", True), ("False", False)):
            if self.s.startswith(word, self.i):
                self.i += len(word)
                return value
        self.bad("fortran_order must be True or False")

    def tuple(self):
        dims = []
        self.expect("(")
        while True:
            self.skip_ws()
            if self.peek() == ")":
                break
            if not ("0" <= self.peek() <= "9"):
                self.bad("shape must be a tuple of non-negative integers")
            v = 0
            while "0" <= self.peek() <= "9":
                if v > (INT64_MAX - 9) // 10:
                    self.bad("shape dimension too large")
                v = v * 10 + ord(self.peek()) - ord("0")
                self.i += 1
            dims.append(v)
            self.skip_ws()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != ")":
                self.bad("expected ',' or ')' in shape")
        self.i += 1
        return dims

    def parse(self):
        fields = {}
        self.expect("{")
        while True:
            self.skip_ws()
            if self.peek() == "}":
                break
            key = self.quoted()
            self.expect(":")
            if key not in ("descr", "fortran_order", "shape"):
                self.bad("unexpected key '%s' in header (valid: descr, fortran_order, shape)" % key[:40])
            if key in fields:
                self.bad("header names the key '%s' twice" % key)
            fields[key] = self.quoted() if key == "descr" else self.boolean() if key == "fortran_order" else self.tuple()
            self.skip_ws()
            if self.peek() == ",":
                self.i += 1
            elif self.peek() != "}":
                self.bad("expected ',' or '}' in header at byte %d" % self.i)
        self.i += 1
        if len(fields) != 3:
            self.bad("header lacks one of the keys 'descr', 'fortran_order', 'shape'")
        self.skip_ws()
        if self.i != len(self.s):
            self.bad("unexpected text after the header dict")
        return fields


def read_npy(fpath, descr, allow_2d):
    """Read a .npy file exactly as npy.cpp does: header first, size checked, then the data."""
    try:
        st = os.stat(fpath)
    except OSError as err:
        raise DumpError("npy file '%s': cannot open for reading: %s" % (fpath, err.strerror)) from None
    if not stat.S_ISREG(st.st_mode):
        raise DumpError("npy file '%s' is not a regular file" % fpath)
    size = st.st_size
    with open(fpath, "rb") as f:
        prefix = f.read(12)
        if len(prefix) < 8 or prefix[:6] != b"\x93NUMPY":
            raise DumpError("npy file '%s': not a .npy file (missing the magic \"\\x93NUMPY\")" % fpath)
        major, minor = prefix[6], prefix[7]
        if major not in (1, 2) or minor != 0:
            raise DumpError("npy file '%s': format version %d.%d is not supported (valid: 1.0, 2.0)"
                            % (fpath, major, minor))
        len_bytes = 2 if major == 1 else 4
        start = 8 + len_bytes
        if len(prefix) < start:
            raise DumpError("npy file '%s': truncated before the header length" % fpath)
        hlen = int.from_bytes(prefix[8:start], "little")
        if hlen > MAX_NPY_HEADER_BYTES:
            raise DumpError("npy file '%s': header of %d bytes is larger than the limit of %d"
                            % (fpath, hlen, MAX_NPY_HEADER_BYTES))
        if size - start < hlen:
            raise DumpError("npy file '%s': truncated header (%d header bytes announced, %d present)"
                            % (fpath, hlen, size - start))
        f.seek(start)
        text = f.read(hlen).decode("latin-1")
        if hlen == 0 or not text.endswith("\n"):
            raise DumpError("npy file '%s': header does not end with a newline" % fpath)
        h = _Header(fpath, text).parse()
        if h["descr"] != descr:
            raise DumpError("npy file '%s': dtype '%s' is not supported here (valid: '%s')"
                            % (fpath, h["descr"][:40], descr))
        if h["fortran_order"]:
            raise DumpError("npy file '%s': fortran_order is True; only C-order arrays are supported" % fpath)
        shape = h["shape"]
        if not (len(shape) == 1 or (allow_2d and len(shape) == 2)):
            raise DumpError("npy file '%s': shape %s has rank %d" % (fpath, tuple(shape), len(shape)))
        item = np.dtype(descr).itemsize
        count = 1
        for d in shape:
            count *= d
            if count * item > INT64_MAX:
                raise DumpError("npy file '%s': shape %s is too large" % (fpath, tuple(shape)))
        have, want = size - start - hlen, count * item
        if have < want:
            raise DumpError("npy file '%s': truncated data: shape %s needs %d bytes, file has %d"
                            % (fpath, tuple(shape), want, have))
        if have > want:
            raise DumpError("npy file '%s': %d unexpected bytes after the data of shape %s"
                            % (fpath, have - want, tuple(shape)))
        data = f.read(want)
        if len(data) != want:
            raise DumpError("npy file '%s': read failed (the file changed while being read?)" % fpath)
    return np.frombuffer(data, dtype=np.dtype(descr)).reshape(shape).copy(), shape
