#!/usr/bin/env python3
"""BG/NBD reference values for test/pgtap/17_clv_numerics.sql, at 40 digits.

The expected purchases E[Y(t) | x, t_x, T] and P(alive) of each case below,
computed independently of src/clv_bgnbd.c with mpmath (not needed by the
tests, which read reference.csv; run this to regenerate it):
  - with a and b: equation 10 of Fader, Hardie & Lee (2005), the Gauss
    hypergeometric function by mpmath.hyp2f1 at 40 digits, where its series
    ends; for a and b in the millions (a Beta too narrow for that), the
    expectation over the dropout probability by mpmath.quad in logit(p)
    around the density's peak;
  - at the boundaries: one dropout probability p, P(alive) (1 - e^-G(p t))/p;
    one purchase rate lambda (r and alpha null), the expectation over
    p ~ Beta(a, b+x) of (1 - e^(-lambda p t))/p by mpmath.quad.
Columns: case, r, alpha, a, b, purchase_rate, dropout_probability, t, x,
t_x, T, expected, alive (empty where a parameter is at its boundary).
"""
import csv
import sys

import mpmath as mp

mp.mp.dps = 40
E = mp.mpf


def alive(r, alpha, a, b, x, tx, T, rate=None, p=None):
    if x == 0:
        return E(1)
    h = rate * (T - tx) if rate is not None else (r + x) * mp.log((alpha + T) / (alpha + tx))
    odds = (p / (1 - p)) if p is not None else a / (b + x - 1)
    return 1 / (1 + odds * mp.exp(h))


def expected(r, alpha, a, b, t, x, tx, T, rate=None, p=None):
    r, alpha, a, b, t, x, tx, T = [None if v is None else E(v) for v in (r, alpha, a, b, t, x, tx, T)]
    rate = None if rate is None else E(rate)
    p = None if p is None else E(p)
    pa = alive(r, alpha, a, b, x, tx, T, rate, p)

    def f(q):
        g = rate * q * t if rate is not None else (r + x) * mp.log1p(q * t / (alpha + T))
        return -mp.expm1(-g) / q
    if p is not None:
        return pa * f(p)
    beta = b + x
    if rate is None and max(a, beta) < 1e5:
        c = a + b + x - 1
        z = t / (alpha + T + t)
        g = mp.hyp2f1(c - r - x, a - 1, c, z, maxterms=10**6)
        return pa * c / (a - 1) * (1 - (1 - z) ** (a - 1) * g)
    # the Beta(a, beta) expectation in u = logit(p), around its peak
    us = mp.log(a / beta)
    sd = mp.sqrt(1 / a + 1 / beta)
    lb = mp.log(mp.beta(a, beta))

    def dens(u):
        return mp.exp(-a * mp.log1p(mp.exp(-u)) - beta * mp.log1p(mp.exp(u)) - lb)
    pts = [us + k * sd for k in (-60, -30, -15, -8, -4, -2, -1, 0, 1, 2, 4, 8, 15, 30, 60)]
    num = mp.quad(lambda u: dens(u) * f(1 / (1 + mp.exp(-u))), pts)
    den = mp.quad(dens, pts)
    return pa * num / den


# (case, r, alpha, a, b, rate, p, t, x, t_x, T)
CASES = [
    ("cdnow published, lifetimes' 1.226", 0.243, 4.414, 0.793, 2.426, None, None, 39, 2, 30.43, 38.86),
    ("cdnow in days, one year", 0.2426, 30.895, 0.7929, 2.4259, None, None, 365, 2, 213, 272),
    ("cdnow in days, no repeat", 0.2426, 30.895, 0.7929, 2.4259, None, None, 365, 0, 0, 272),
    ("cdnow in days, first day", 0.2426, 30.895, 0.7929, 2.4259, None, None, 365, 0, 0, 0),
    ("cdnow in days, ten years ahead", 0.2426, 30.895, 0.7929, 2.4259, None, None, 3650, 5, 100, 272),
    ("cdnow in days, one day ahead", 0.2426, 30.895, 0.7929, 2.4259, None, None, 1, 1, 10, 272),
    ("bench 1M fit in force (a, b in the millions)", 0.2897, 5.462, 3000273.6, 60154117.3, None, None, 365, 3, 200, 300),
    ("bench 1M fit, first day", 0.2897, 5.462, 3000273.6, 60154117.3, None, None, 365, 0, 0, 0),
    ("bench 1M fit, heavy buyer", 0.2897, 5.462, 3000273.6, 60154117.3, None, None, 365, 40, 1000, 1010),
    ("bench 1M refit (a, b growing)", 0.29, 5.46, 631618, 12648881, None, None, 365, 2, 50, 400),
    ("bench 1M at the boundary", 0.2897, 5.462, None, None, None, 0.047507, 365, 3, 200, 300),
    ("a = 1 + 1e-9", 0.5, 20, 1 + 1e-9, 3, None, None, 365, 2, 100, 200),
    ("a = 1 - 1e-9", 0.5, 20, 1 - 1e-9, 3, None, None, 365, 2, 100, 200),
    ("a = 1 + 1e-6", 0.5, 20, 1 + 1e-6, 3, None, None, 90, 0, 0, 30),
    ("a small", 0.3, 10, 0.01, 2, None, None, 365, 1, 20, 60),
    ("a and b small", 0.3, 10, 0.05, 0.05, None, None, 365, 0, 0, 60),
    ("b small, no repeat", 1.5, 40, 0.7, 0.02, None, None, 365, 0, 0, 10),
    ("large x", 0.8, 12, 0.9, 4, None, None, 365, 1000, 2990, 3000),
    ("large T", 0.3, 10, 0.8, 2.5, None, None, 365, 10, 3000, 36500),
    ("horizon far beyond alpha + T", 0.3, 0.01, 0.8, 2.5, None, None, 100000, 1, 0.5, 1),
    ("r and alpha large (near one rate)", 2e6, 4e7, 0.8, 2.5, None, None, 365, 3, 100, 200),
    ("one purchase rate (r, alpha at the boundary)", None, None, 0.8, 2.5, 0.05, None, 365, 3, 100, 200),
    ("one purchase rate, no repeat", None, None, 0.8, 2.5, 0.05, None, 365, 0, 0, 200),
    ("both at the boundary", None, None, None, None, 0.05, 0.2, 365, 3, 100, 200),
    ("a large, b moderate", 0.5, 20, 5000, 50, None, None, 365, 2, 100, 200),
    ("a moderate, b large", 0.5, 20, 3, 40000, None, None, 365, 2, 100, 200),
    ("r large alone", 500, 2000, 0.8, 2.5, None, None, 365, 2, 100, 200),
    ("alpha tiny", 0.3, 1e-4, 0.8, 2.5, None, None, 365, 2, 100, 200),
]


def main():
    w = csv.writer(sys.stdout, lineterminator="\n")
    w.writerow(["case", "r", "alpha", "a", "b", "purchase_rate", "dropout_probability", "t", "x", "t_x", "age",
                "expected", "alive"])
    for c in CASES:
        name, r, alpha, a, b, rate, p, t, x, tx, T = c
        e = expected(r, alpha, a, b, t, x, tx, T, rate, p)
        pa = alive(*[None if v is None else E(v) for v in (r, alpha, a, b, x, tx, T)],
                   rate=None if rate is None else E(rate), p=None if p is None else E(p))
        w.writerow([name] + ["" if v is None else repr(v) for v in (r, alpha, a, b, rate, p, t, x, tx, T)]
                   + [mp.nstr(e, 20), mp.nstr(pa, 20)])


if __name__ == "__main__":
    main()
