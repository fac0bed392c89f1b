// pybind11 module hubness_fast._cpu: pointers and sizes in, numpy arrays out.
// Validation of shapes and dtypes happens in Python (hubness_fast/_inputs.py, _dispatch.py);
// the checks here only guard the pointers.
#include <string>

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "../common/bound.h"
#include "../common/errors.h"
#include "../common/topk.h"
#include "../cpu/amx.h"
#include "../cpu/balls_cpu.h"
#include "../cpu/fma_peak.h"
#include "../cpu/knn_cpu.h"
#include "../cpu/normals.h"
#include "../cpu/pair_schedule.h"
#include "../cpu/simd.h"
#include "ball_arrays.h"
#include "knn_arrays.h"
#include "progress.h"

namespace py = pybind11;
using hf::bindings::KnnArrays;
using hf::bindings::ProgressBridge;

namespace {

py::tuple knn(const py::array& x, const py::object& queries, int k, const std::string& metric, bool exclude_self,
              int n_threads,
              const std::string& simd, const py::object& progress, bool want_distances) {
    hf::KnnParams p = hf::bindings::knn_params(k, metric, exclude_self, n_threads, simd);
    ProgressBridge bridge{progress, nullptr};
    p.progress = bridge.make();
    const hf::Matrix db = hf::bindings::host_matrix(x, "x"), q = hf::bindings::optional_host_matrix(queries, "queries");
    KnnArrays out(q.data ? q.rows : db.rows, k, want_distances);
    int64_t* ids_ptr = out.ids.mutable_data();
    hf::KnnStats stats;
    bridge.run([&] { stats = hf::knn_cpu(db, q, p, ids_ptr, out.dist_ptr); });
    return out.result(stats);
}

py::tuple knn_pair(const py::array& a, const py::array& b, int k, const std::string& metric, int n_threads,
                   const std::string& simd,
                   const py::object& progress) {
    hf::KnnParams p = hf::bindings::knn_params(k, metric, false, n_threads, simd);
    ProgressBridge bridge{progress, nullptr};
    p.progress = bridge.make();
    const hf::Matrix ma = hf::bindings::host_matrix(a, "a"), mb = hf::bindings::host_matrix(b, "b");
    KnnArrays oa(ma.rows, static_cast<int>(std::min<int64_t>(k, mb.rows)), true);
    KnnArrays ob(mb.rows, static_cast<int>(std::min<int64_t>(k, ma.rows)), true);
    int64_t *pia = oa.ids.mutable_data(), *pib = ob.ids.mutable_data();
    bridge.run([&] { hf::knn_pair_cpu(ma, mb, p, pia, oa.dist_ptr, pib, ob.dist_ptr); });
    return py::make_tuple(oa.ids, oa.dist, ob.ids, ob.dist);
}

// Certifies candidate lists from another backend (see certify_candidates_cpu).
py::tuple certify(const py::array& x, const py::object& queries, int k, const std::string& metric, bool exclude_self,
                   int n_threads,
                   const std::string& simd, const py::array_t<float, py::array::c_style | py::array::forcecast>& keys,
                   const py::array_t<int64_t, py::array::c_style | py::array::forcecast>& ids, bool want_distances) {
    const hf::KnnParams p = hf::bindings::knn_params(k, metric, exclude_self, n_threads, simd);
    const hf::Matrix db = hf::bindings::host_matrix(x, "x"), q = hf::bindings::optional_host_matrix(queries, "queries");
    const int64_t nq = q.data ? q.rows : db.rows;
    const int cap = hf::candidate_cap(k, q.data ? db.rows : (exclude_self ? db.rows - 1 : db.rows));
    hf::check_arg(keys.ndim() == 2 && keys.shape(0) == nq && keys.shape(1) == cap && ids.ndim() == 2 &&
                      ids.shape(0) == nq && ids.shape(1) == cap,
                  "candidate lists must be [rows x " + std::to_string(cap) + "]");
    KnnArrays out(nq, k, want_distances);
    int64_t* ids_ptr = out.ids.mutable_data();
    hf::KnnStats stats;
    {
        hf::knobs::refresh();  // with the GIL still held
        py::gil_scoped_release release;
        stats = hf::certify_candidates_cpu(db, q, p, keys.data(), ids.data(), ids_ptr, out.dist_ptr);
    }
    return out.result(stats);
}

// Outputs of one point set of a ball query, as numpy arrays.
// The CPU engine's view of one set's ball arrays.
struct CpuBallSet : hf::bindings::BallArrays {
    hf::BallSide side;
    CpuBallSet(int64_t n, int64_t layers, const py::object& r2) : BallArrays(n, layers, r2) {
        side.radius2 = radii();
        side.in_count = in_count.mutable_data();
        side.own_count = own_count.mutable_data();
        side.min_radius2 = min_radius2.mutable_data();
    }
};

py::tuple balls(const py::array& a, const py::object& a_radius2, const py::array& b, const py::object& b_radius2,
                const std::vector<bool>& inclusive, int n_threads, const std::string& simd, const py::object& progress) {
    const hf::Matrix ma = hf::bindings::host_matrix(a, "queries"), mb = hf::bindings::host_matrix(b, "centres");
    const int64_t layers = static_cast<int64_t>(inclusive.size());
    hf::check_arg(layers >= 1, "inclusive needs one flag per layer (at least one)");
    CpuBallSet sa(ma.rows, layers, a_radius2), sb(mb.rows, layers, b_radius2);
    hf::BallParams p;
    p.inclusive.assign(inclusive.begin(), inclusive.end());
    p.n_threads = n_threads;
    p.simd = simd;
    ProgressBridge bridge{progress, nullptr};
    p.progress = bridge.make();
    bridge.run([&] { hf::balls_cpu(ma, sa.side, mb, sb.side, p); });
    return py::make_tuple(sa.to_dict(), sb.to_dict());
}

// A vector handed to numpy without a copy: the array owns it.
template <class V>
py::array owned_array(V&& v) {
    auto* heap = new std::vector<typename std::decay_t<V>::value_type>(std::move(v));
    py::capsule owner(heap, [](void* p) { delete static_cast<decltype(heap)>(p); });
    return py::array_t<typename std::decay_t<V>::value_type>(static_cast<py::ssize_t>(heap->size()), heap->data(), owner);
}

py::tuple radius_pass(const py::array& a, double radius2, const py::array& b, bool inclusive, bool same_set,
                      int n_threads, const std::string& simd, const py::object& progress,
                      const hf::CosineValues* cosine) {
    const hf::Matrix ma = hf::bindings::host_matrix(a, "queries"), mb = hf::bindings::host_matrix(b, "x");
    hf::BallParams p;
    p.inclusive = {static_cast<unsigned char>(inclusive)};
    p.n_threads = n_threads;
    p.simd = simd;
    ProgressBridge bridge{progress, nullptr};
    p.progress = bridge.make();
    hf::RadiusPairs out;
    bridge.run([&] { hf::radius_pairs_cpu(ma, radius2, mb, same_set, p, out, cosine); });
    return py::make_tuple(owned_array(std::move(out.indptr)), owned_array(std::move(out.indices)),
                          owned_array(std::move(out.values)));
}

py::tuple radius_pairs(const py::array& a, double radius2, const py::array& b, bool inclusive, bool same_set,
                       int n_threads, const std::string& simd, const py::object& progress) {
    return radius_pass(a, radius2, b, inclusive, same_set, n_threads, simd, progress, nullptr);
}

py::tuple radius_cosine_pairs(const py::array& a, double radius2, const py::array& b, bool same_set,
                              const py::array& a_rows, const py::array_t<double, py::array::c_style>& a_norm,
                              const py::array& b_rows, const py::array_t<double, py::array::c_style>& b_norm,
                              double radius, int n_threads, const std::string& simd, const py::object& progress) {
    hf::CosineValues c;
    c.a = hf::bindings::host_matrix(a_rows, "a_rows");
    c.b = hf::bindings::host_matrix(b_rows, "b_rows");
    hf::check_arg(a_norm.ndim() == 1 && a_norm.shape(0) == c.a.rows && b_norm.ndim() == 1 && b_norm.shape(0) == c.b.rows,
                  "one norm per row of each point set");
    c.a_norm = a_norm.data();
    c.b_norm = b_norm.data();
    c.radius = radius;
    return radius_pass(a, radius2, b, true, same_set, n_threads, simd, progress, &c);
}

py::array_t<double> pair_cosines(const py::array& a, const py::array_t<double, py::array::c_style>& a_norm,
                                 const py::array& b, const py::array_t<double, py::array::c_style>& b_norm,
                                 const py::array_t<int64_t, py::array::c_style>& rows,
                                 const py::array_t<int64_t, py::array::c_style>& cols, int n_threads) {
    const hf::Matrix ma = hf::bindings::host_matrix(a, "a"), mb = hf::bindings::host_matrix(b, "b");
    hf::check_arg(a_norm.ndim() == 1 && a_norm.shape(0) == ma.rows && b_norm.ndim() == 1 && b_norm.shape(0) == mb.rows,
                  "one norm per row of each point set");
    hf::check_arg(rows.ndim() == 1 && cols.ndim() == 1 && rows.shape(0) == cols.shape(0), "rows and cols pair up");
    const int64_t n = rows.shape(0);
    py::array_t<double> out(n);
    double* op = out.mutable_data();
    {
        py::gil_scoped_release release;
        hf::pair_cosines_cpu(ma, a_norm.data(), mb, b_norm.data(), rows.data(), cols.data(), n, n_threads, op);
    }
    return out;
}

py::tuple amx_keys(const py::array& a, const py::array& b, bool tiles, const std::string& scheme) {
    hf::check_arg(scheme == "int8x4" || scheme == "bf16x3", "scheme must be 'int8x4' or 'bf16x3'");
    const hf::Matrix ma = hf::bindings::host_matrix(a, "a"), mb = hf::bindings::host_matrix(b, "b");
    py::array_t<float> keys({ma.rows, mb.rows});
    py::array_t<double> bounds({ma.rows, mb.rows});
    float* kp = keys.mutable_data();
    double* bp = bounds.mutable_data();
    double scale;
    {
        py::gil_scoped_release release;
        scale = hf::amx_keys_cpu(ma, mb, tiles, scheme == "int8x4", kp, bp);
    }
    return py::make_tuple(keys, bounds, scale);
}

py::dict engine_counters(bool reset) {
    const hf::EngineCounters c = hf::engine_counters(reset);
    py::dict d;
    d["calls"] = c.calls;
    d["rows"] = c.rows;
    d["rows_certified"] = c.rows_certified;
    d["rows_recomputed"] = c.rows_recomputed;
    d["rows_scanned"] = c.rows_scanned;
    d["rows_widened"] = c.rows_widened;
    d["last_kernels"] = c.last_kernels;
    return d;
}

double amx_peak(int n_threads, int64_t iterations, bool int8) {
    hf::check_arg(hf::amx_built() && hf::cpu_has_amx(), "this CPU, OS or build has no AMX tiles");
    py::gil_scoped_release release;
    return hf::amx_peak_gflops(n_threads, iterations, int8);
}

double peak_gflops(int n_threads, int64_t iterations, const std::string& simd) {
    const std::string level = hf::select_kernels(simd).name;
    py::gil_scoped_release release;
    return hf::fma_peak_gflops(n_threads, iterations, level);
}

hf::NormalKey normal_key(const std::vector<uint32_t>& key) {
    hf::check_arg(key.size() == 4, "a normal stream's key is 4 uint32 words");
    hf::NormalKey k;
    std::copy(key.begin(), key.end(), k.w);
    return k;
}

py::array_t<float> standard_normal(const std::vector<uint32_t>& key, uint64_t chunk0, int64_t n, int n_threads,
                                   const std::string& simd) {
    hf::check_arg(n >= 0, "the number of values must be >= 0");
    hf::check_arg(n_threads >= 0, "n_threads must be >= 0 (0: all)");
    const uint64_t n_chunks = (static_cast<uint64_t>(n) + hf::kNormalChunk - 1) / hf::kNormalChunk;
    // Block indices are 64-bit: the stream of a key ends at chunk 2^60.
    hf::check_arg(chunk0 <= (uint64_t{1} << 60) && n_chunks <= (uint64_t{1} << 60) - chunk0,
                  "the draw runs past the end of the stream (chunk 2^60)");
    const hf::NormalKey k = normal_key(key);
    py::array_t<float> out(n);
    float* o = out.mutable_data();
    {
        py::gil_scoped_release release;
        hf::fill_normals(k, chunk0, n, o, simd, n_threads);
    }
    return out;
}

// Runs the self-join's block-pair schedule with n_threads threads that claim and release pairs as
// the engine does (keeping the block they hold), doing no work; a test of the schedule itself
// (n_threads = 0: the schedule is built and measured, not run).
py::tuple pair_schedule_trace(int64_t n_blocks, int n_threads) {
    hf::check_arg(n_blocks >= 1 && n_threads >= 0 && n_threads <= 64, "n_blocks >= 1 and 0 <= n_threads <= 64");
    hf::PairSchedule schedule(n_blocks);
    std::unique_ptr<std::atomic<int>[]> holders(new std::atomic<int>[n_blocks]);
    for (int64_t b = 0; b < n_blocks; ++b) holders[b] = 0;
    std::atomic<int64_t> shared{0};  // claims that found a block held by another thread
    std::vector<std::vector<int64_t>> claimed(n_threads);
    {
        py::gil_scoped_release release;
        std::vector<std::thread> pool;
        for (int t = 0; t < n_threads; ++t) {
            pool.emplace_back([&, t] {
                std::pair<int64_t, int64_t> pr;
                int64_t held = -1;
                while (schedule.acquire(pr, held)) {
                    auto [I, J] = pr;
                    if (J == held) std::swap(I, J);
                    held = I;
                    if (holders[I].fetch_add(1) != 0) ++shared;
                    if (J != I && holders[J].fetch_add(1) != 0) ++shared;
                    claimed[t].push_back(I);
                    claimed[t].push_back(J);
                    std::this_thread::yield();
                    holders[I].fetch_sub(1);
                    if (J != I) holders[J].fetch_sub(1);
                    schedule.release(pr);
                }
            });
        }
        for (std::thread& th : pool) th.join();
    }
    int64_t total = 0;
    for (const auto& c : claimed) total += static_cast<int64_t>(c.size()) / 2;
    py::array_t<int64_t> pairs({total, int64_t{2}});
    int64_t* out = pairs.mutable_data();
    for (const auto& c : claimed) out = std::copy(c.begin(), c.end(), out);
    return py::make_tuple(pairs, shared.load(), schedule.bytes());
}

py::tuple philox(const std::vector<uint32_t>& ctr, const std::vector<uint32_t>& key) {
    hf::check_arg(ctr.size() == 4 && key.size() == 2, "Philox4x32 takes a counter of 4 words and a key of 2");
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    hf::philox4x32_10(c, key.data());
    return py::make_tuple(c[0], c[1], c[2], c[3]);
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "hubness_fast CPU engine (exact tiled k-NN with fused top-k)";
    m.def("knn", &knn, py::arg("x"), py::arg("queries"), py::arg("k"), py::arg("metric"), py::arg("exclude_self"),
          py::arg("n_threads"), py::arg("simd"), py::arg("progress"), py::arg("want_distances"),
          "Exact k-NN; returns (ids int64 [n, k], distances float64 [n, k] or None, stats dict).");
    m.def("knn_pair", &knn_pair, py::arg("a"), py::arg("b"), py::arg("k"), py::arg("metric"), py::arg("n_threads"),
          py::arg("simd"), py::arg("progress"),
          "Both halves of a block pair: (ids_a, dist_a, ids_b, dist_b), k capped by the other block's size.");
    m.def("certify", &certify, py::arg("x"), py::arg("queries"), py::arg("k"), py::arg("metric"),
          py::arg("exclude_self"), py::arg("n_threads"), py::arg("simd"), py::arg("keys"), py::arg("ids"),
          py::arg("want_distances"), "Certify fp32 candidate lists of another backend; returns as knn().");
    m.def("candidate_cap", &hf::candidate_cap, py::arg("k"), py::arg("n_candidates"),
          "Length of the fp32 candidate lists every backend keeps per row.");
    m.def("balls", &balls, py::arg("a"), py::arg("a_radius2"), py::arg("b"), py::arg("b_radius2"),
          py::arg("inclusive"), py::arg("n_threads"), py::arg("simd"), py::arg("progress"),
          "Ball containment between two point sets, every layer of balls in one pass (inclusive: one flag per "
          "layer); returns (stats of a, stats of b) as dicts of [n, layers] arrays.");
    m.def("radius_pairs", &radius_pairs, py::arg("a"), py::arg("radius2"), py::arg("b"), py::arg("inclusive"),
          py::arg("same_set"), py::arg("n_threads"), py::arg("simd"), py::arg("progress"),
          "Every pair (i, j) with |a_i - b_j|^2 <= radius2 (inclusive; else <), exactly, in CSR form: (indptr int64 "
          "[na + 1], indices int64, squared distances float64), each row sorted by (distance, index); same_set: a is "
          "b and (i, i) is left out.");
    m.def("radius_cosine_pairs", &radius_cosine_pairs, py::arg("a"), py::arg("radius2"), py::arg("b"),
          py::arg("same_set"), py::arg("a_rows"), py::arg("a_norm"), py::arg("b_rows"), py::arg("b_norm"),
          py::arg("radius"), py::arg("n_threads"), py::arg("simd"), py::arg("progress"),
          "A cosine radius search: the pass of radius_pairs (inclusive) on a and b, the rows divided by their norms, "
          "with radius2 widened to hold every pair wanted; each listed pair is valued by the k-NN engine's float64 "
          "cosine of a_rows and b_rows (the rows as given, norms given), sorted by it and kept where <= radius.");
    m.def("pair_cosines", &pair_cosines, py::arg("a"), py::arg("a_norm"), py::arg("b"), py::arg("b_norm"),
          py::arg("rows"), py::arg("cols"), py::arg("n_threads"),
          "The k-NN engine's float64 cosine 1 - <a_i, b_j> / (|a_i| |b_j|) of each listed pair (rows[p], cols[p]), "
          "summed in feature order, the norms given: the value radius searches decide on.");
    m.def("peak_gflops", &peak_gflops, py::arg("n_threads"), py::arg("iterations"), py::arg("simd") = "auto",
          "GFLOP/s of a register-only FMA loop with the vectors of a kernel level ('auto': the widest this CPU "
          "runs): the arithmetic ceiling of this machine (a probe for the benchmarks).");
    m.def("kernel_level", [](const std::string& level) { return std::string(hf::select_kernels(level).name); },
          py::arg("level"),
          "The kernel set a simd level runs ('auto' resolved); ValueError, naming the available ones, for a level "
          "this CPU or build cannot run.");
    m.def("cpu_has_amx", &hf::cpu_has_amx,
          "Whether this CPU has AMX-TILE and AMX-BF16 and Linux granted this process the tile state "
          "(asks for it on first call).");
    m.def("amx_peak_gflops", &amx_peak, py::arg("n_threads"), py::arg("iterations"), py::arg("int8") = false,
          "GFLOP/s of a register-only tdpbf16ps loop (the AMX unit's bf16 ceiling), or GOP/s of a tdpbssd loop "
          "(int8=True: the int8 ceiling); a probe for the benchmarks.");
    m.def(
        "amx_scheme",
        [](const py::array& x) {
            const hf::Matrix mx = hf::bindings::host_matrix(x, "x");
            hf::knobs::refresh();
            return std::string(hf::amx_scheme_cpu(mx));
        },
        py::arg("x"), "The scheme ('int8x4' or 'bf16x3') the AMX pass of a self-join on x uses.");
    m.def("amx_keys", &amx_keys, py::arg("a"), py::arg("b"), py::arg("tiles"), py::arg("scheme") = "int8x4",
          "The AMX pass's keys (scheme 'int8x4' or 'bf16x3') of every pair (a_i, b_j) by the tiles (tiles=True) or the portable scalar "
          "reference, with their rounding bounds: (keys float32 [na, nb], bounds float64 [na, nb], scale); keys "
          "approximate scale^2 |a_i - b_j|^2 within the bounds.");
    m.def("engine_counters", &engine_counters, py::arg("reset") = false,
          "Totals over every k-NN call of this process (thread safe): calls, rows, rows_certified, rows_recomputed, "
          "rows_scanned, rows_widened, last_kernels; reset=True zeroes them after reading.");
    m.def("standard_normal", &standard_normal, py::arg("key"), py::arg("chunk0"), py::arg("n"), py::arg("n_threads"),
          py::arg("simd"),
          "n N(0, 1) float32 values of the Philox4x32-10 / Box-Muller stream of key (4 uint32 words) from chunk "
          "chunk0 (64 values each) on: the same bits at every simd level and thread count (csrc/cpu/normals_impl.h).");
    m.def("philox4x32_10", &philox, py::arg("ctr"), py::arg("key"),
          "One Philox4x32-10 block: the four words for counter ctr (4 words) and key (2 words).");
    m.def("pair_schedule_trace", &pair_schedule_trace, py::arg("n_blocks"), py::arg("n_threads"),
          "The self-join's block-pair schedule run by n_threads idle threads: (pairs int64 [n_pairs, 2] as claimed, "
          "claims that met a block another thread held, the schedule's bytes); a test of the schedule (n_threads=0: "
          "built, not run).");
    m.def("simd_levels", &hf::simd_levels,
          "The simd levels this build and CPU can run, from the portable one up (besides 'auto').");
    // The rows every backend refuses (common/bound.h), for the passes and checks written in Python.
    m.attr("MAX_SQUARED_NORM") = hf::kMaxSquaredNorm;
    m.attr("HUGE_ROW") = std::string(hf::kHugeRow);
    m.attr("COSINE_MIN_SQUARED_NORM") = hf::kCosineMinSquaredNorm;
    m.attr("COSINE_ZERO_ROW") = std::string(hf::kCosineZeroRow);
    m.attr("COSINE_TINY_ROW") = std::string(hf::kCosineTinyRow);
    m.attr("HAS_AVX2") = hf::cpu_has_avx2();
    m.attr("HAS_AVX512") = hf::cpu_has_avx512();
#ifdef _OPENMP
    m.attr("HAS_OPENMP") = true;
#else
    m.attr("HAS_OPENMP") = false;
#endif
}
