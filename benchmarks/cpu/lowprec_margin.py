"""How many candidates an int8 (or fp16-input) candidate pass would have to
keep per row for its rounding bound to certify the exact k nearest.

    python benchmarks/cpu/lowprec_margin.py [--n 20000 --d 512 --k 5 --rows 500]

Per-row symmetric quantization q = round(x / s), s = max|x| / 127 (|q| <= 127;
7-bit inputs, |q| <= 63, avoid vpmaddubsw saturation). The rigorous bound on
the dot product of the dequantized pair is s_a s_b (0.5 |q_b|_1 + 0.5 |q_a|_1
+ D / 4); a point must stay a candidate while its lower bound is below the
k-th smallest upper bound.
"""
import argparse

import numpy as np


def needed(x, rows, k, levels):
    s = np.abs(x).max(1) / levels
    q = np.rint(x / s[:, None])
    l1 = np.abs(q).sum(1)
    n2 = (x.astype(np.float64) ** 2).sum(1)
    out = []
    for i in rows:
        dot = (q[i] @ q.T) * s[i] * s
        key = n2[i] + n2 - 2 * dot
        b = 2 * s[i] * s * (0.5 * l1 + 0.5 * l1[i] + x.shape[1] / 4)
        key[i] = np.inf
        hi = np.sort(key + b)[k - 1]  # the k-th smallest upper bound
        out.append(int(np.sum(key - b <= hi)))
    return np.array(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--rows", type=int, default=500)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.n, a.d)).astype(np.float32)
    rows = rng.choice(a.n, a.rows, replace=False)
    for name, levels in (("int8 (|q| <= 127)", 127), ("int7 (|q| <= 63, no saturation)", 63)):
        c = needed(x, rows, a.k, levels)
        print(f"N={a.n} D={a.d} k={a.k} {name}: candidates per row median {np.median(c):.0f}, "
              f"p90 {np.percentile(c, 90):.0f}, max {c.max()} (the fp32 pass keeps k + 3 = {a.k + 3})")


if __name__ == "__main__":
    main()
