// Bounded per-point candidate lists for exact k-NN.
//
// Each point owns at most `cap` (key, id) pairs, kept sorted for small caps
// (<= kSortedMaxCap) and as a max-heap beyond (of packed words while a pass
// runs, when ids fit 32 bits: finalize() unpacks them), ordered
// lexicographically (smaller key first, then smaller id), so the result of a
// stream of pushes is the same set whatever the order of the stream: results
// do not depend on threads, tiles or backends. `thr[p]` is the largest key
// still worth offering to p, so that SIMD code can pre-filter a tile with a
// single `key <= thr` compare: the worst kept key once the list is full (+inf
// before) or, with margins (set_margins, sorted lists only), the k-th kept key
// plus margin[p] when that is lower. A margin of more than twice the largest
// fp32 rounding bound of p's keys only turns away points that cannot be among
// p's k nearest; the list's first k entries stay the same for every order,
// the entries beyond may then depend on it. thr[p] never increases, and every
// point not in the list was offered with a key above its final value.
#pragma once
#include <cstdint>
#include <vector>

namespace hf {

// Extra fp32 candidates kept per row beyond k, so that the float64 boundary
// check rarely fails; shared by every backend (their lists must agree).
constexpr int kCandidateMargin = 3;

inline int candidate_cap(int64_t k, int64_t n_candidates) {
    return static_cast<int>(k + kCandidateMargin < n_candidates ? k + kCandidateMargin : n_candidates);
}

__attribute__((always_inline)) inline bool pair_less(float ka, int64_t ia, float kb, int64_t ib) {
    return ka < kb || (ka == kb && ia < ib);
}

class TopKSet {
public:
    // thr() stays readable this far past the last point, so SIMD code may load
    // whole vectors at the edge of a tile (the extra entries are +inf).
    static constexpr int kThrPad = 48;
    static constexpr int kSortedMaxCap = 32;

    // id_end: every id pushed is below it, when known (-1: not known). Heaps of
    // ids below 2^32 keep each pair in one 8-byte word while the pushes run (the
    // key's order-preserving bits over the id: a sift compares and moves one word,
    // and a block pair's lists fit the L2 cache at k = 90); finalize() unpacks them.
    TopKSet(int64_t n_points, int cap, int64_t id_end = -1);

    int64_t n_points() const { return n_; }
    int cap() const { return cap_; }
    int size(int64_t p) const { return size_[p]; }
    const float* thr() const { return thr_.data(); }
    const float* keys(int64_t p) const { return &keys_[p * cap_]; }
    const int64_t* ids(int64_t p) const { return &ids_[p * cap_]; }

    // Offer candidate `id` with key `key` to point p. Not thread-safe for the
    // same p; different points may be updated concurrently. Inline for the
    // sorted lists (the hot path of every fold), out of line for heaps.
    // Always inlined: the kernels that call it are compiled once per
    // instruction set, and an out-of-line copy built with AVX2 must never be
    // the one a portable caller links to.
    __attribute__((always_inline)) void push(int64_t p, float key, int64_t id) {
        if (cap_ > kSortedMaxCap) return packed_ ? push_packed(p, key, id) : push_heap(p, key, id);
        float* K = &keys_[p * cap_];
        int64_t* I = &ids_[p * cap_];
        int s = size_[p];
        if (s == cap_) {
            if (!pair_less(key, id, K[s - 1], I[s - 1])) return;
            --s;  // the worst entry falls off the end
        }
        int c = s;
        for (; c > 0 && pair_less(key, id, K[c - 1], I[c - 1]); --c) {
            K[c] = K[c - 1];
            I[c] = I[c - 1];
        }
        K[c] = key;
        I[c] = id;
        size_[p] = s + 1;
        if (s + 1 == cap_) thr_[p] = K[cap_ - 1];
        if (margin_k_ > 0 && s + 1 >= margin_k_) {
            const float lim = K[margin_k_ - 1] + margin_[p];  // margin_ absorbs this rounding (see set_margins)
            if (lim < thr_[p]) thr_[p] = lim;
        }
    }
    // Lowers thresholds to the k-th kept key + margin[p] (sorted lists only;
    // ignored for heaps). margin[p] must exceed twice p's largest rounding
    // bound by more than the rounding of that float sum: 2.5 times the bound
    // does when the bound is at least 16 units of the keys' last place (the
    // fp32 bound of every metric is).
    void set_margins(int k, std::vector<float> margin);
    // Asks the cache for the memory a push to point p touches first: the
    // list's tail (insertion walks from the worst entry) or a heap's root, and
    // its size (a heap's root: no faster, 1.01x at k = 90, but a packed heap
    // never reads its keys during a pass).
    __attribute__((always_inline)) void prefetch(int64_t p) const {
        if (cap_ > kSortedMaxCap) {  // a heap: its root, the one word a packed heap compares first
            __builtin_prefetch(&ids_[p * cap_], 1);
            if (!packed_) __builtin_prefetch(&keys_[p * cap_], 1);
        } else {
            __builtin_prefetch(&keys_[p * cap_ + cap_ - 1], 1);
            __builtin_prefetch(&ids_[p * cap_ + cap_ - 1], 1);
        }
        __builtin_prefetch(&size_[p], 1);
    }
    // Offer every candidate of `other` (same n_points) to this set; finalizes `other` first.
    void merge_from(TopKSet& other);
    // Unpacks packed heaps into keys() and ids(); call once the pushes of a
    // pass are done, before reading the lists (a no-op for other lists).
    void finalize();

private:
    void push_heap(int64_t p, float key, int64_t id);
    void push_packed(int64_t p, float key, int64_t id);

    int64_t n_;
    int cap_;
    std::vector<float> keys_;
    std::vector<int64_t> ids_;
    std::vector<int> size_;
    std::vector<float> thr_;
    bool packed_ = false;        // heaps held as words in ids_ (until finalize)
    int margin_k_ = 0;           // 0: no margins
    std::vector<float> margin_;  // per point, with margin_k_
};

}  // namespace hf
