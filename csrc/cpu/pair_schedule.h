// Hands out the unordered block pairs of a self-join so that no two threads
// ever hold the same block (its candidate lists are then private to one
// thread) and no thread waits at a barrier: pairs are listed in round-robin
// tournament order (rounds of disjoint pairs, the diagonal first) and a thread
// takes the first untaken pair whose two blocks are free, preferring pairs
// with a block it already holds packed.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace hf {

class PairSchedule {
public:
    explicit PairSchedule(int64_t n_blocks)
        : busy_(new std::atomic<bool>[n_blocks]), taken_() {
        const int64_t nb = n_blocks, nbe = nb + (nb & 1), ring = nbe - 1;
        for (int64_t b = 0; b < nb; ++b) pairs_.emplace_back(b, b);
        for (int64_t r = 0; r + 1 < nbe; ++r) {  // circle method: block `ring` stays, the others rotate
            for (int64_t t = 0; t < nbe / 2; ++t) {
                const int64_t I = t == 0 ? ring : (r + t) % ring, J = t == 0 ? r : (r - t + ring) % ring;
                if (I < nb && J < nb) pairs_.emplace_back(I, J);
            }
        }
        by_block_.resize(nb);
        for (size_t p = 0; p < pairs_.size(); ++p) {
            by_block_[pairs_[p].first].push_back(static_cast<int64_t>(p));
            if (pairs_[p].second != pairs_[p].first) by_block_[pairs_[p].second].push_back(static_cast<int64_t>(p));
        }
        cursor_.reset(new std::atomic<int64_t>[nb]);
        for (int64_t b = 0; b < nb; ++b) {
            busy_[b] = false;
            cursor_[b] = 0;
        }
        taken_.reset(new std::atomic<bool>[pairs_.size()]);
        for (size_t p = 0; p < pairs_.size(); ++p) taken_[p] = false;
        left_ = static_cast<int64_t>(pairs_.size());
    }

    int64_t size() const { return static_cast<int64_t>(pairs_.size()); }

    // Claims a pair and locks its blocks, one with block `prefer` first when
    // any is free; false once every pair was handed out.
    bool acquire(std::pair<int64_t, int64_t>& out, int64_t prefer = -1) {
        if (prefer >= 0) {
            const std::vector<int64_t>& mine = by_block_[prefer];
            int64_t first = cursor_[prefer].load(std::memory_order_relaxed);
            for (int64_t t = first; t < static_cast<int64_t>(mine.size()); ++t) {
                if (taken_[mine[t]].load(std::memory_order_relaxed)) {
                    if (t == first) cursor_[prefer].compare_exchange_weak(first, ++first, std::memory_order_relaxed);
                    continue;  // the cursor skips the block's taken prefix: no quadratic rescans
                }
                if (try_claim(mine[t], out)) return true;
            }
        }
        for (;;) {
            if (left_.load(std::memory_order_acquire) == 0) return false;
            int64_t low = low_.load(std::memory_order_relaxed);
            for (int64_t p = low; p < size(); ++p) {
                if (taken_[p].load(std::memory_order_relaxed)) {
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
    bool try_claim(int64_t p, std::pair<int64_t, int64_t>& out) {
        if (taken_[p].load(std::memory_order_relaxed)) return false;
        const auto [I, J] = pairs_[p];
        if (!lock(I)) return false;
        if (J != I && !lock(J)) {
            unlock(I);
            return false;
        }
        if (taken_[p].exchange(true, std::memory_order_acq_rel)) {
            release({I, J});
            return false;
        }
        left_.fetch_sub(1, std::memory_order_acq_rel);
        out = pairs_[p];
        return true;
    }

    bool lock(int64_t b) { return !busy_[b].exchange(true, std::memory_order_acquire); }
    void unlock(int64_t b) { busy_[b].store(false, std::memory_order_release); }

    std::vector<std::pair<int64_t, int64_t>> pairs_;
    std::vector<std::vector<int64_t>> by_block_;  // pair indices holding each block
    std::unique_ptr<std::atomic<int64_t>[]> cursor_;  // per block: entries of by_block_ before it are taken
    std::unique_ptr<std::atomic<bool>[]> busy_;
    std::unique_ptr<std::atomic<bool>[]> taken_;
    std::atomic<int64_t> low_{0};
    std::atomic<int64_t> left_{0};
};

}  // namespace hf
