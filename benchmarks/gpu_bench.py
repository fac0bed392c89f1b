"""GPU benchmark: exact self-join hub counts on one GPU against the GPU peers.

    python -m benchmarks.gpu_bench [--n 1000000 --d 512 --k 5 --rounds 3 --out FILE]

hubness_fast reads a torch CUDA tensor in place and reduces the counts on the
device. Peers, each timed on the same data in the same run:

- torch: chunked ``addmm`` distance block + ``topk`` + ``bincount`` (fp32, as
  a notebook would; torch's TF32 matmul switch left at its default, off);
- cupy: chunked matmul distance block + ``argpartition`` + ``bincount``;
- KeOps: ``argKmin`` on a LazyTensor of squared distances.

Peers whose cost is linear in the number of query rows are timed on a slice
of the queries (``--peer-rows``) against the whole database and scaled to N
(marked ``extrapolated`` in the JSON) to keep the lease short; hubness_fast is
always timed whole. Agreement of every peer's neighbour lists with ours is
checked on the timed slice. Memory: our module's peak device allocation
(hubness_fast._cuda.memory_stats), next to the input's size.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def _sync():
    import torch

    torch.cuda.synchronize()


def _timed(fn, rounds):
    times, out = [], None
    for _ in range(rounds):
        _sync()
        t = time.perf_counter()
        out = fn()
        _sync()
        times.append(time.perf_counter() - t)
    return times, out


def torch_knn(x, rows, k, chunk=2048):
    """ids [rows, k] of the first `rows` points (self excluded) by addmm + topk."""
    import torch

    n2 = (x * x).sum(1)
    out = torch.empty((rows, k), dtype=torch.int64, device=x.device)
    for s in range(0, rows, chunk):
        e = min(rows, s + chunk)
        d = torch.addmm(n2[None, :], x[s:e], x.T, beta=1, alpha=-2).add_(n2[s:e, None])
        d[torch.arange(e - s, device=x.device), torch.arange(s, e, device=x.device)] = float("inf")
        out[s:e] = d.topk(k, dim=1, largest=False).indices
    return out


def cupy_knn(x, rows, k, chunk=256):
    import cupy

    n2 = (x * x).sum(1)
    out = cupy.empty((rows, k), dtype=cupy.int64)
    for s in range(0, rows, chunk):
        e = min(rows, s + chunk)
        d = n2[None, :] - 2 * (x[s:e] @ x.T) + n2[s:e, None]
        d[cupy.arange(e - s), cupy.arange(s, e)] = cupy.inf
        part = cupy.argpartition(d, k, axis=1)[:, :k]
        out[s:e] = part
    return out


def keops_knn(x, rows, k):
    from pykeops.torch import LazyTensor

    xi = LazyTensor(x[:rows, None, :].contiguous())
    xj = LazyTensor(x[None, :, :])
    d2 = ((xi - xj) ** 2).sum(-1)
    ids = d2.argKmin(k + 1, dim=1)
    return ids


def _drop_self_rows(ids, k):
    """k+1 ids per row with self among them (KeOps): drop self, or the last if a duplicate hid it."""
    return _drop_self_rows_np(ids.cpu().numpy(), k)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--d", type=int, default=512)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--peer-rows", type=int, default=65_536, help="query rows the peers are timed on")
    p.add_argument("--peers", default="torch,cupy,keops")
    p.add_argument("--precisions", default="auto,exact", help="hubness_fast precisions to time")
    p.add_argument("--host-chunk", type=int, default=0,
                   help="also time numpy input streamed from the host in chunks of this many rows")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)

    import torch

    import hubness_fast as hf
    from hubness_fast import _native

    dev = torch.cuda.get_device_name(0)
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn((a.n, a.d), generator=g, device="cuda", dtype=torch.float32)
    input_bytes = x.numel() * 4
    flops = float(a.n) * a.n * a.d  # N^2/2 pairs x D multiply-adds x 2
    res = {"device": dev, "n": a.n, "d": a.d, "k": a.k, "rounds": a.rounds, "results": {},
           "env": {"HUBNESS_FAST_CUDA_FOLD": os.environ.get("HUBNESS_FAST_CUDA_FOLD", "thread")}}

    print(f"{dev}: N={a.n} D={a.d} k={a.k}")
    from hubness_fast.engine import _dispatch

    all_counts = {}
    for prec in [s for s in a.precisions.split(",") if s]:
        hf.hub_counts(x[:20_000], a.k, precision=prec)  # warm-up: module load, kernel attributes
        _native.cuda.reset_peak()
        before = _native.cuda.memory_stats()[0]
        times, counts = _timed(lambda: hf.hub_counts(x, a.k, precision=prec), a.rounds)  # noqa: B023
        peak = _native.cuda.memory_stats()[1] - before
        info = _dispatch.run(_dispatch.describe(x, a.k, precision=prec), ids=False, counts=True).stats
        med = statistics.median(times)
        assert int(counts.sum()) == a.n * a.k
        all_counts[prec] = counts
        name = "hubness_fast" if prec == "auto" else f"hubness_fast[{prec}]"
        res["results"][name] = {"times_s": times, "median_s": med, "tflops_symmetric": flops / med / 1e12,
                                "peak_extra_bytes": peak, "input_bytes": input_bytes, "info": dict(info)}
        print(f"{name:24s} median {med:8.3f} s  ({flops / med / 1e12:.1f} TFLOP/s of the symmetric N^2 D)"
              f"  extra memory {peak / 2**20:.0f} MiB (input {input_bytes / 2**20:.0f} MiB)  {dict(info)}")
    names = list(all_counts)
    for other in names[1:]:
        same = bool(torch.equal(all_counts[names[0]], all_counts[other]))
        res[f"counts_equal_{names[0]}_{other}"] = same
        print(f"hub counts {names[0]} == {other}: {same}")
    med = res["results"]["hubness_fast" if "auto" in names else f"hubness_fast[{names[0]}]"]["median_s"]
    if a.host_chunk:
        os.environ["HUBNESS_FAST_GPU_CHUNK_ROWS"] = str(a.host_chunk)
        host = x.cpu().numpy()
        t0 = time.perf_counter()
        hc = hf.hub_counts(host, a.k, device="cuda")
        th = time.perf_counter() - t0
        same = bool(np.array_equal(hc, all_counts[names[0]].cpu().numpy()))
        res["results"]["hubness_fast[host-streamed]"] = {
            "times_s": [th], "median_s": th, "chunk_rows": a.host_chunk, "chunks": -(-a.n // a.host_chunk),
            "counts_equal_device": same}
        print(f"{'hubness_fast[host-streamed]':24s} {th:8.3f} s  numpy input in chunks of {a.host_chunk} rows "
              f"({-(-a.n // a.host_chunk)} chunks); counts equal the device run: {same}")
        del os.environ["HUBNESS_FAST_GPU_CHUNK_ROWS"]

    rows = min(a.peer_rows, a.n)
    ours_ids = hf.knn(x, a.k, queries=None)[1][:rows].cpu().numpy() if a.n <= 300_000 else None
    if ours_ids is None:  # a large self-join: our lists of the slice via a cross search with self excluded
        ours_ids = _slice_knn(hf, x, rows, a.k)
    for peer in [s for s in a.peers.split(",") if s]:
        try:
            if peer == "torch":
                fn = lambda: torch_knn(x, rows, a.k)  # noqa: E731
                conv = lambda ids: ids.cpu().numpy()  # noqa: E731
            elif peer == "cupy":
                import cupy

                torch.cuda.empty_cache()  # leave the memory to cupy's pool
                xc = cupy.asarray(x)
                fn = lambda: cupy_knn(xc, rows, a.k)  # noqa: E731
                conv = lambda ids: cupy.asnumpy(ids)  # noqa: E731
            elif peer == "keops":
                res["results"][peer] = _keops_subprocess(a.n, a.d, a.k, rows, med)
                print(f"{peer:12s}  {res['results'][peer]}"[:400])
                continue
            else:
                raise ValueError(f"unknown peer {peer}")
            t, ids = _timed(fn, 1 if peer == "cupy" else max(1, min(a.rounds, 2)))
            got = np.sort(conv(ids), axis=1)
            agree = float((got == np.sort(ours_ids, axis=1)).all(1).mean())
            scale = a.n / rows
            m = statistics.median(t) * scale
            res["results"][peer] = {"times_s": t, "rows_timed": rows, "extrapolated": rows < a.n, "median_s": m,
                                    "ratio_to_hubness_fast": m / med, "rows_agreeing": agree}
            print(f"{peer:12s}  median {m:8.3f} s{' (scaled from %d rows)' % rows if rows < a.n else ''}"
                  f"  -> hubness_fast is {m / med:.2f}x faster; neighbour sets agree on {100 * agree:.2f}% of rows")
        except Exception as exc:  # a missing or failing peer is reported, not fatal
            res["results"][peer] = {"error": repr(exc)[:500]}
            print(f"{peer:12s}  failed: {exc!r}"[:300])
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return res


def _keops_subprocess(n, d, k, rows, ours_s):
    """KeOps in a child process (it compiles at run time and may crash at large D)."""
    import subprocess
    import sys

    code = f"""
import time, torch
from benchmarks.gpu_bench import keops_knn
g = torch.Generator(device='cuda').manual_seed(0)
x = torch.randn(({n}, {d}), generator=g, device='cuda')
keops_knn(x[:4096], 256, {k}); torch.cuda.synchronize()
ts = []
for _ in range(2):
    t = time.perf_counter(); keops_knn(x, {rows}, {k}); torch.cuda.synchronize(); ts.append(time.perf_counter() - t)
print('TIMES', min(ts), max(ts))
"""
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after 240 s"}
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("TIMES")]
    if r.returncode != 0 or not line:
        return {"error": f"exit {r.returncode}", "stderr_tail": (r.stderr or r.stdout)[-800:]}
    lo, hi = map(float, line[0].split()[1:])
    m = (lo + hi) / 2 * n / rows
    return {"times_s": [lo, hi], "rows_timed": rows, "extrapolated": rows < n, "median_s": m,
            "ratio_to_hubness_fast": m / ours_s}


def _slice_knn(hf, x, rows, k):
    """Exact neighbours (self excluded) of the first `rows` points, by a cross search for k+1."""
    ids = hf.knn(x, k + 1, queries=x[:rows])[1].cpu().numpy()
    return _drop_self_rows_np(ids, k)


def _drop_self_rows_np(ids, k):
    n = ids.shape[0]
    own = ids == np.arange(n)[:, None]
    keep = ~own
    keep[~own.any(1), k] = False
    return ids[keep].reshape(n, k)


if __name__ == "__main__":
    main()
