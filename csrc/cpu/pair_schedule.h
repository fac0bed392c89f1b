// Hands out the unordered block pairs of a self-join so that no two threads
// ever hold the same block (its candidate lists are then private to one
// thread) and no thread waits at a barrier: pairs are listed in round-robin
// tournament order (rounds of disjoint pairs, the diagonal first) and a thread
// takes the first untaken pair whose two blocks are free, preferring pairs
// with a block it already holds packed.
//
// Memory: one bit per pair (taken or not) and a few words per block. The
// pairs themselves, and each block's pairs in order, are computed from their
// index, never stored: a stored list costs 33 bytes a pair, 0.8 GB at four
// million rows, where the bits take 3 MB.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>

namespace hf {

class PairSchedule {
public:
    explicit PairSchedule(int64_t n_blocks)
        : nb_(n_blocks),
          odd_(n_blocks & 1),
          ring_(n_blocks + (n_blocks & 1) - 1),
          per_round_(n_blocks / 2),
          size_(n_blocks + (n_blocks / 2) * (n_blocks + (n_blocks & 1) - 1)),
          words_((size_ + 63) / 64),
          busy_(new std::atomic<bool>[n_blocks]),
          cursor_(new std::atomic<int64_t>[n_blocks]),
          taken_(new std::atomic<uint64_t>[words_]) {
        for (int64_t b = 0; b < nb_; ++b) {
            busy_[b] = false;
            cursor_[b] = 0;
        }
        for (int64_t w = 0; w < words_; ++w) taken_[w] = 0;
        left_ = size_;
    }

    int64_t size() const { return size_; }

    // The bytes this schedule holds: the taken bits and the per-block words.
    int64_t bytes() const {
        return static_cast<int64_t>(sizeof(*this)) + words_ * 8 +
               nb_ * static_cast<int64_t>(sizeof(std::atomic<bool>) + sizeof(std::atomic<int64_t>));
    }

    // Pair p: the diagonal (p, p) for p < n_blocks, then round after round of
    // the circle method (block `ring` stays, the others rotate; with an odd
    // count `ring` is a phantom and the block meeting it sits the round out).
    std::pair<int64_t, int64_t> pair(int64_t p) const {
        if (p < nb_) return {p, p};
        const int64_t q = p - nb_, r = q / per_round_, t = odd_ + q % per_round_;
        if (t == 0) return {ring_, r};
        return {(r + t) % ring_, (r - t + ring_) % ring_};
    }

    // The j-th pair (0 <= j < n_blocks) holding block b, in increasing pair order.
    int64_t pair_of_block(int64_t b, int64_t j) const {
        if (j == 0) return b;
        const int64_t r = odd_ && j - 1 >= b ? j : j - 1;  // odd counts: block b sits out round b
        int64_t t = 0;
        if (b != ring_ && b != r) {
            const int64_t s = ((b - r) % ring_ + ring_) % ring_;  // b = r + t, or b = r - t
            t = s <= (ring_ - 1) / 2 ? s : ring_ - s;
        }
        return nb_ + r * per_round_ + (t - odd_);
    }

    // Claims a pair and locks its blocks, one with block `prefer` first when
    // any is free; false once every pair was handed out.
    bool acquire(std::pair<int64_t, int64_t>& out, int64_t prefer = -1) {
        if (prefer >= 0) {
            int64_t first = cursor_[prefer].load(std::memory_order_relaxed);
            for (int64_t j = first; j < nb_; ++j) {
                const int64_t p = pair_of_block(prefer, j);
                if (taken(p)) {
                    if (j == first) cursor_[prefer].compare_exchange_weak(first, ++first, std::memory_order_relaxed);
                    continue;  // the cursor skips the block's taken prefix: no quadratic rescans
                }
                if (try_claim(p, out)) return true;
            }
        }
        for (;;) {
            if (left_.load(std::memory_order_acquire) == 0) return false;
            int64_t low = low_.load(std::memory_order_relaxed);
            for (int64_t p = low; p < size_; ++p) {
                if (taken(p)) {
                    if (p == low) low_.compare_exchange_weak(low, ++low, std::memory_order_relaxed);
                    continue;
                }
                if (try_claim(p, out)) return true;
            }
            std::this_thread::yield();  // every remaining pair touches a block in use
        }
    }

    void release(std::pair<int64_t, int64_t> pr) {
        unlock(pr.first);
        if (pr.second != pr.first) unlock(pr.second);
    }

private:
    bool taken(int64_t p) const { return (taken_[p >> 6].load(std::memory_order_relaxed) >> (p & 63)) & 1; }

    bool try_claim(int64_t p, std::pair<int64_t, int64_t>& out) {
        if (taken(p)) return false;
        const auto [I, J] = pair(p);
        if (!lock(I)) return false;
        if (J != I && !lock(J)) {
            unlock(I);
            return false;
        }
        const uint64_t bit = uint64_t{1} << (p & 63);
        if (taken_[p >> 6].fetch_or(bit, std::memory_order_acq_rel) & bit) {
            release({I, J});
            return false;
        }
        left_.fetch_sub(1, std::memory_order_acq_rel);
        out = {I, J};
        return true;
    }

    bool lock(int64_t b) { return !busy_[b].exchange(true, std::memory_order_acquire); }
    void unlock(int64_t b) { busy_[b].store(false, std::memory_order_release); }

    const int64_t nb_, odd_, ring_, per_round_, size_, words_;
    std::unique_ptr<std::atomic<bool>[]> busy_;
    std::unique_ptr<std::atomic<int64_t>[]> cursor_;  // per block: its pairs before this one are taken
    std::unique_ptr<std::atomic<uint64_t>[]> taken_;  // a bit per pair
    std::atomic<int64_t> low_{0};
    std::atomic<int64_t> left_{0};
};

}  // namespace hf
