"""Reference values of the truncated Gumbel -log(exp(-t) - exp(-z) + exp(-g)) and its partial derivatives, computed
with mpmath at 100 significant digits from the exact double inputs, each rounded once to the nearest double.

    python3 scripts/truncated_gumbel_reference.py > tests/Autodiff.Tests/Structured/TruncatedGumbelReference.csv
"""
import mpmath as mp

mp.mp.dps = 100

# (name, g, z, t): the beam search's domain is g <= z; a few rows lie outside it where the formula is still real.
# "ill-conditioned": y moves by much more than its own ulp when an input moves by one of its ulps (here g near z far
# from 0), so even the formula as written stays within the rounding of the inputs there.
CASES = [
    ("argmax child g = z = t", 0.3, 0.3, 0.3),
    ("argmax child g = z", -2.5, -2.5, 1.75),
    ("t = z gives g", -4.0, 1.5, 1.5),
    ("g near z; t >> z", -1e-10, 0.0, 40.0),
    ("g near z; t >> z; ill-conditioned", 1 - 2**-40, 1.0, 30.0),
    ("g near z; t >> z; ill-conditioned", 2.0 - 1e-13, 2.0, 700.0),
    ("t close to z", 0.5, 1 + 2**-40, 1.0),
    ("t close to z", -3.0, 5 - 1e-13, 5.0),
    ("t close to z; g close too", 5 - 3e-13, 5 - 1e-13, 5.0),
    ("t close to z from above", 1.0, 2.0, 2 + 2**-45),
    ("g >> t: tiny correction", 50.0, 60.0, 0.0),
    ("g >> t: correction below double", 800.0, 800.5, 0.0),
    ("g >> t: e^-t overflows", 1000.0, 1001.0, -1000.0),
    ("logit -1000", -1000.0, 0.5, 1.0),
    ("logit -1000", -1000.0, 0.0, -0.25),
    ("logit -1000 deep", -2000.0, -1000.0, -999.5),
    ("logit -1000 deep", -2001.0, -1000.25, -1000.5),
    ("logits +1000", 1000.0, 1001.0, 999.0),
    ("logits +1000", 1000.2, 1000.7, 1000.1),
    ("logits +1000", 999.0, 1000.0, 1000.5),
    ("logits +-1000", -1000.0, 1000.0, 1000.0 - 2**-30),
    ("logits +-1000", -1000.0, 1000.0, 999.0),
    ("t = +inf (no truncation)", -1.0, 0.5, float("inf")),
    ("t = +inf; g near z; ill-conditioned", 3 - 1e-12, 3.0, float("inf")),
    ("moderate", -0.7, 0.9, 0.2),
    ("moderate", 1.3, 2.1, 3.4),
    ("moderate", -5.5, -2.0, -3.0),
    ("moderate", 0.0, 0.1, -0.1),
    ("g > z; formula real", 1.0, 0.5, 0.0),
    ("g > z; formula real", 0.8, 0.5, 0.2),
]


def exact(x):
    return mp.mpf(x) if x != float("inf") else mp.inf


def row(name, g, z, t):
    G, Z, T = exact(g), exact(z), exact(t)
    s = mp.exp(-G) - mp.exp(-Z) + (mp.exp(-T) if T != mp.inf else 0)
    y = -mp.log(s)
    dg = mp.exp(y - G)
    dz = -mp.exp(y - Z)
    dt = mp.exp(y - T) if T != mp.inf else mp.mpf(0)
    return [name, repr(g), repr(z), repr(t), repr(float(y)), repr(float(dg)), repr(float(dz)), repr(float(dt))]


print("name,g,z,t,y,dg,dz,dt")
for c in CASES:
    print(",".join(row(*c)))
