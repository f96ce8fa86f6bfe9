#!/usr/bin/python3
"""Fit the polynomial coefficients of reference/include/atp/numerics.hpp.

Run with the system Python (needs only numpy):

    /usr/bin/python3 scripts/fit_numerics.py

Every approximation in numerics.hpp is a polynomial whose coefficients are
printed here as C++ hex-float literals. The method is the same for each:

1. sample the target function in float64 on a dense grid (Chebyshev-clustered
   towards the ends, where minimax errors peak);
2. find near-minimax coefficients for the *relative* error by Lawson's
   algorithm (iteratively re-weighted least squares, which converges to the
   discrete minimax solution);
3. round the coefficients to float32 one at a time, from the lowest order up,
   re-fitting the remaining higher-order ones after each rounding (so the later
   coefficients absorb the rounding of the earlier ones);
4. report the relative error of the float32-coefficient polynomial evaluated
   in float64, i.e. the approximation error alone. The rounding error of the
   float32 evaluation comes on top of it; tests/test_numerics.cpp measures the
   total in ulp against a float64 reference.

The output is deterministic: re-running prints the same literals that are in
the header. If you change an interval or a degree here, paste the new
literals into numerics.hpp and re-run the tests.
"""
import math

import numpy as np


def cheb_grid(lo, hi, n=8001):
    """Chebyshev-clustered points on [lo, hi] (includes both ends)."""
    k = np.arange(n)
    t = np.cos(np.pi * k / (n - 1))  # 1 .. -1
    return np.sort(0.5 * (lo + hi) + 0.5 * (hi - lo) * t)


def lawson(basis, target, weight, iters=300):
    """Discrete minimax of weight*(basis @ c - target) by Lawson's IRLS."""
    n = len(target)
    w = np.full(n, 1.0 / n)
    c = None
    for _ in range(iters):
        sw = np.sqrt(w)
        a = basis * (sw * weight)[:, None]
        b = target * sw * weight
        c, *_ = np.linalg.lstsq(a, b, rcond=None)
        err = np.abs(weight * (basis @ c - target))
        w = w * err
        s = w.sum()
        if s == 0:
            break
        w = w / s
    return c


def fit_rounded(basis, target, weight):
    """Near-minimax fit, then round to float32 lowest order first, re-fitting the rest."""
    m = basis.shape[1]
    fixed = []
    resid = target.copy()
    for j in range(m):
        c = lawson(basis[:, j:], resid, weight)
        cj = float(np.float32(c[0]))
        fixed.append(cj)
        resid = resid - cj * basis[:, j]
    return fixed


def hexf(c):
    """C++ hex-float literal of a float32 value, e.g. 0x1.62e430p-1f."""
    v = float(np.float32(c))
    if v == 0.0:
        return "0x0p+0f"
    s = v.hex()  # e.g. '0x1.62e4300000000p-1'
    sign = "-" if s.startswith("-") else ""
    s = s.lstrip("-")
    mant, exp = s[2:].split("p")
    ip, fp = mant.split(".") if "." in mant else (mant, "0")
    fp = (fp + "000000")[:6]  # float32 has 23 fraction bits = 6 hex digits
    return f"{sign}0x{ip}.{fp}p{int(exp):+d}f"


def report(name, coeffs, relerr, note):
    print(f"// {name}: {note}")
    print(f"//   max relative approximation error (float32 coefficients, float64 evaluation): "
          f"{relerr:.3e} = {relerr / 2.0**-24:.4f} ulp@[1,2)")
    for i, c in enumerate(coeffs):
        print(f"//   c{i} = {hexf(c):>18}  ({np.float32(c):.9e})")
    print()


def horner(coeffs, z):
    acc = np.zeros_like(z)
    for c in reversed(coeffs):
        acc = acc * z + c
    return acc


def fit_exp():
    # exp(r) = 1 + r + r^2 * P(r) on |r| <= ln2/2 (slightly widened: k comes from
    # a float product x*log2(e) and can be off by one half-ulp near the ends).
    h = math.log(2.0) / 2.0 * 1.0005
    r = cheb_grid(-h, h)
    deg = 4  # P has 5 coefficients
    basis = np.stack([r ** (2 + j) for j in range(deg + 1)], axis=1)
    target = np.expm1(r) - r
    weight = 1.0 / np.exp(r)
    c = fit_rounded(basis, target, weight)
    approx = 1.0 + r + r * r * horner(c, r)
    err = np.max(np.abs(approx / np.exp(r) - 1.0))
    report("exp", c, err, f"exp(r) = 1 + r + r^2 P(r), |r| <= {h:.6f}, P degree {deg}")
    return c


def fit_tanh(t_hi=0.625, deg=5):
    # tanh(x) = x + x^3 * P(x^2) on [0, t_hi]; relative error.
    x = cheb_grid(1e-4, t_hi)
    s = x * x
    basis = np.stack([x ** 3 * s ** j for j in range(deg + 1)], axis=1)
    target = np.tanh(x) - x
    weight = 1.0 / np.tanh(x)
    c = fit_rounded(basis, target, weight)
    approx = x + x ** 3 * horner(c, s)
    err = np.max(np.abs(approx / np.tanh(x) - 1.0))
    report("tanh", c, err, f"tanh(x) = x + x^3 P(x^2), |x| <= {t_hi}, P degree {deg}")
    return c


def fit_erf(t_hi=0.921875, deg=6):
    # erf(x) = x + x * P(x^2) on [0, t_hi]; relative error.
    x = cheb_grid(1e-4, t_hi)
    s = x * x
    v_erf = np.vectorize(math.erf)(x)
    basis = np.stack([x * s ** j for j in range(deg + 1)], axis=1)
    target = v_erf - x
    weight = 1.0 / v_erf
    c = fit_rounded(basis, target, weight)
    approx = x + x * horner(c, s)
    err = np.max(np.abs(approx / v_erf - 1.0))
    report("erf", c, err, f"erf(x) = x + x P(x^2), |x| <= {t_hi}, P degree {deg}")
    return c


def fit_erfc(a_hi=10.0546875, deg=12):
    # erfc(a) = exp(-a^2) * (1 + P(q)) / (1 + 2a), q = (a - 2)/(a + 2), a in [0, a_hi].
    # (1 + 2a) exp(a^2) erfc(a) - 1 is smooth and bounded on q in [-1, (a_hi-2)/(a_hi+2)]:
    # 0 at a = 0, 2/sqrt(pi) - 1 as a -> inf. The substitution maps the infinite tail
    # onto a short interval, so one polynomial covers the whole range.
    q_hi = (a_hi - 2.0) / (a_hi + 2.0)
    q = cheb_grid(-1.0, q_hi)
    a = 2.0 * (1.0 + q) / (1.0 - q)
    scaled = np.array([math.erfc(v) * math.exp(v * v) for v in a])
    target = (1.0 + 2.0 * a) * scaled - 1.0
    basis = np.stack([q ** j for j in range(deg + 1)], axis=1)
    weight = 1.0 / (1.0 + target)  # relative error of (1 + P)
    c = fit_rounded(basis, target, weight)
    approx = 1.0 + horner(c, q)
    err = np.max(np.abs(approx / (1.0 + target) - 1.0))
    report("erfc", c, err,
           f"(1+2a) exp(a^2) erfc(a) = 1 + P(q), q = (a-2)/(a+2), 0 <= a <= {a_hi}, P degree {deg}")
    return c


def fit_sin(h=math.pi / 4 * 1.0005, deg=3):
    # sin(r) = r + r^3 * S(r^2) on |r| <= pi/4 (widened: the reduced argument
    # of atp::sincos carries a float-float tail); relative error.
    r = cheb_grid(1e-4, h)
    z = r * r
    basis = np.stack([r ** 3 * z ** j for j in range(deg + 1)], axis=1)
    c = fit_rounded(basis, np.sin(r) - r, 1.0 / np.sin(r))
    approx = r + r ** 3 * horner(c, z)
    err = np.max(np.abs(approx / np.sin(r) - 1.0))
    report("sin (reference/include/atp/rotary.hpp)", c, err, f"sin(r) = r + r^3 S(r^2), |r| <= {h:.6f}, S degree {deg}")
    return c


def fit_cos(h=math.pi / 4 * 1.0005, deg=3):
    # cos(r) = 1 - r^2/2 + r^4 * C(r^2) on |r| <= pi/4; relative error.
    r = cheb_grid(0.0, h)
    z = r * r
    basis = np.stack([z ** 2 * z ** j for j in range(deg + 1)], axis=1)
    c = fit_rounded(basis, np.cos(r) - 1.0 + z / 2.0, 1.0 / np.cos(r))
    approx = 1.0 - z / 2.0 + z ** 2 * horner(c, z)
    err = np.max(np.abs(approx / np.cos(r) - 1.0))
    report("cos (reference/include/atp/rotary.hpp)", c, err,
           f"cos(r) = 1 - r^2/2 + r^4 C(r^2), |r| <= {h:.6f}, C degree {deg}")
    return c


def main():
    print("// Generated by scripts/fit_numerics.py (numpy " + np.__version__ + ")\n")
    fit_exp()
    fit_tanh()
    fit_erf()
    fit_erfc()
    fit_sin()
    fit_cos()


if __name__ == "__main__":
    main()
