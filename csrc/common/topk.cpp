#include "topk.h"

#include <cstddef>
#include <limits>
#include <utility>

namespace hf {

TopKSet::TopKSet(int64_t n_points, int cap)
    : n_(n_points), cap_(cap), keys_(static_cast<size_t>(n_points) * cap),
      ids_(static_cast<size_t>(n_points) * cap), size_(n_points, 0),
      thr_(n_points + kThrPad, std::numeric_limits<float>::infinity()) {}

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

void TopKSet::merge_from(const TopKSet& other) {
    for (int64_t p = 0; p < n_; ++p) {
        const float* K = other.keys(p);
        const int64_t* I = other.ids(p);
        for (int s = 0; s < other.size(p); ++s) push(p, K[s], I[s]);
    }
}

}  // namespace hf
