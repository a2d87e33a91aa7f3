#!/usr/bin/env python3
"""Reference values for the Herbie-style accuracy test of the stabilize rules (tests/Autodiff.Tests/Numerics/AccuracyTests.cs).

For each rule and element type (f32, f64) it samples inputs uniformly over the type's bit patterns, keeps those in the
rule's domain whose exact result is finite in the type, and evaluates the exact result with mpmath at 2400 bits (so sums and differences of the sampled values are exact), through
mpmath's log1p and expm1. Output:
one CSV line per point, `rule,dtype,a,b,exact`, the numbers as Python float.hex (a and b exactly as sampled; b unused by
one-argument rules; exact rounded once to double). Rerun:

    python3 scripts/accuracy_reference.py > tests/Autodiff.Tests/Numerics/Data/accuracy_reference.csv
"""
import random
import struct

import mpmath as mp

mp.mp.prec = 2400  # enough that a + b, 1 + x and b - a of doubles are exact
N = 300  # points per rule and type
LN2 = mp.log(2)


def f32(bits):
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def f64(bits):
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def sample(rng, dtype):
    while True:
        x = f32(rng.getrandbits(32)) if dtype == "f32" else f64(rng.getrandbits(64))
        if x == x and abs(x) != float("inf"):
            return x


def sigmoid(x):
    return 1 / (1 + mp.exp(-x))


# rule name -> (number of arguments, domain predicate, exact function)
RULES = {
    "log1p": (1, lambda a, b: a > -1, lambda a, b: mp.log1p(a)),
    "expm1": (1, lambda a, b: True, lambda a, b: mp.expm1(a)),
    "log1mexp": (1, lambda a, b: a < 0, lambda a, b: mp.log(-mp.expm1(a))),
    "logdiffexp": (2, lambda a, b: b < a, lambda a, b: a + mp.log(-mp.expm1(b - a))),
    "logaddexp": (2, lambda a, b: True, lambda a, b: max(a, b) + mp.log1p(mp.exp(-abs(a - b)))),
    "softplus": (1, lambda a, b: True, lambda a, b: max(a, 0) + mp.log1p(mp.exp(-abs(a)))),
    "sigmoid": (1, lambda a, b: True, lambda a, b: sigmoid(a)),
    "log-sigmoid": (1, lambda a, b: True, lambda a, b: -(max(-a, 0) + mp.log1p(mp.exp(-abs(a))))),
    "sqrt-of-exp": (1, lambda a, b: True, lambda a, b: mp.exp(a / 2)),
    "odds-of-sigmoid": (1, lambda a, b: True, lambda a, b: mp.exp(a)),
}

MAX = {"f32": 3.4028234663852886e38, "f64": 1.7976931348623157e308}
TINY = {"f32": 1.401298464324817e-45, "f64": 5e-324}


def main():
    rng = random.Random(20261204)
    print("rule,dtype,a,b,exact")
    for rule, (arity, domain, exact) in RULES.items():
        for dtype in ("f32", "f64"):
            kept = 0
            while kept < N:
                a = sample(rng, dtype)
                b = sample(rng, dtype) if arity == 2 else 0.0
                if not domain(a, b):
                    continue
                y = exact(mp.mpf(a), mp.mpf(b))
                # keep points whose exact result is a finite, normal-range value of the type (Herbie drops the others)
                if not mp.isfinite(y) or abs(y) > MAX[dtype] or (y != 0 and abs(y) < TINY[dtype]):
                    continue
                print(f"{rule},{dtype},{float(a).hex()},{float(b).hex()},{float(y).hex()}")
                kept += 1


if __name__ == "__main__":
    main()
