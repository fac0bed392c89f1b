#include "topk.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

namespace hf {

TopKSet::TopKSet(int64_t n_points, int cap, int64_t id_end)
    : n_(n_points), cap_(cap), keys_(static_cast<size_t>(n_points) * cap),
      ids_(static_cast<size_t>(n_points) * cap), size_(n_points, 0),
      thr_(n_points + kThrPad, std::numeric_limits<float>::infinity()),
      packed_(cap > kSortedMaxCap && id_end >= 0 && id_end <= (int64_t{1} << 32)) {}

namespace {

// A (key, id) pair as one word ordered as pair_less orders pairs: the key's bits made
// order-preserving (negative keys' bits flipped, positive keys' sign bit set; -0 taken as +0,
// the key NaN never is) over a 32-bit id.
inline uint64_t pack(float key, int64_t id) {
    uint32_t u;
    const float k = key + 0.0f;  // -0 -> +0: pair_less takes them as equal
    std::memcpy(&u, &k, sizeof u);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return (static_cast<uint64_t>(u) << 32) | static_cast<uint32_t>(id);
}

inline float key_of(uint64_t w) {
    uint32_t u = static_cast<uint32_t>(w >> 32);
    u = (u & 0x80000000u) ? (u & 0x7fffffffu) : ~u;
    float key;
    std::memcpy(&key, &u, sizeof key);
    return key;
}

}  // namespace

// The packed heap: push_heap's sifts on one word a pair (ids_ holds the words).
void TopKSet::push_packed(int64_t p, float key, int64_t id) {
    uint64_t* W = reinterpret_cast<uint64_t*>(&ids_[p * cap_]);
    const uint64_t w = pack(key, id);
    const int s = size_[p];
    if (s < cap_) {  // not full: sift the new leaf up
        int c = s;
        while (c > 0) {
            const int parent = (c - 1) / 2;
            if (W[parent] >= w) break;
            W[c] = W[parent];
            c = parent;
        }
        W[c] = w;
        size_[p] = s + 1;
        if (s + 1 == cap_) thr_[p] = key_of(W[0]);
        return;
    }
    if (w >= W[0]) return;
    int c = 0;  // replace the root and sift down
    for (;;) {
        const int l = 2 * c + 1;
        if (l >= cap_) break;
        const int big = (l + 1 < cap_ && W[l] < W[l + 1]) ? l + 1 : l;
        if (w >= W[big]) break;
        W[c] = W[big];
        c = big;
    }
    W[c] = w;
    thr_[p] = key_of(W[0]);
}

void TopKSet::finalize() {
    if (!packed_) return;
    for (int64_t p = 0; p < n_; ++p) {
        float* K = &keys_[p * cap_];
        int64_t* I = &ids_[p * cap_];
        for (int s = 0; s < size_[p]; ++s) {
            uint64_t w;
            std::memcpy(&w, &I[s], sizeof w);
            K[s] = key_of(w);
            I[s] = static_cast<int64_t>(w & 0xffffffffu);
        }
    }
    packed_ = false;  // the same heaps, in pair_less's order: later pushes go to push_heap
}

void TopKSet::push_heap(int64_t p, float key, int64_t id) {
    float* K = &keys_[p * cap_];
    int64_t* I = &ids_[p * cap_];
    const int s = size_[p];
    // Larger lists: a max-heap with the worst entry at the root.
    if (s < cap_) {  // not full: sift the new leaf up
        int c = s;
        while (c > 0) {
            int parent = (c - 1) / 2;
            if (!pair_less(K[parent], I[parent], key, id)) break;
            K[c] = K[parent];
            I[c] = I[parent];
            c = parent;
        }
        K[c] = key;
        I[c] = id;
        size_[p] = s + 1;
        if (s + 1 == cap_) thr_[p] = K[0];
        return;
    }
    if (!pair_less(key, id, K[0], I[0])) return;
    int c = 0;  // replace the root and sift down
    for (;;) {
        int l = 2 * c + 1;
        if (l >= cap_) break;
        int r = l + 1;
        int big = (r < cap_ && pair_less(K[l], I[l], K[r], I[r])) ? r : l;
        if (!pair_less(key, id, K[big], I[big])) break;
        K[c] = K[big];
        I[c] = I[big];
        c = big;
    }
    K[c] = key;
    I[c] = id;
    thr_[p] = K[0];
}

void TopKSet::set_margins(int k, std::vector<float> margin) {
    if (cap_ > kSortedMaxCap || k < 1 || k >= cap_) return;  // heaps, or no entries beyond k: nothing to gain
    margin_k_ = k;
    margin_ = std::move(margin);
}

void TopKSet::merge_from(TopKSet& other) {
    other.finalize();
    for (int64_t p = 0; p < n_; ++p) {
        const float* K = other.keys(p);
        const int64_t* I = other.ids(p);
        for (int s = 0; s < other.size(p); ++s) push(p, K[s], I[s]);
    }
}

}  // namespace hf
