// The threaded runner of the CPU engines: OpenMP threads with a Workspace
// each, progress reports, interrupts, and exceptions parked across the join.
#pragma once
#include <omp.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <vector>

#include "../common/errors.h"
#include "../common/types.h"
#include "packing.h"

namespace hf {

// Runs a body on OpenMP threads, each with its own Workspace. Work goes
// through step(): skipped once a stop was requested; thread 0 (the caller's
// thread) reports progress about every 100 ms and polls for interrupts; no
// exception may leave an OpenMP region, so the first one is parked and
// rethrown after the join.
class TileRunner {
public:
    explicit TileRunner(const Progress& progress) : progress_(progress) {}

    template <class Body>
    void run(Body body, int threads, int64_t total, size_t row_copy_floats = 0) {
        std::vector<Workspace> spaces;  // allocated up front: no thread may miss a worksharing loop
        for (int t = 0; t < threads; ++t) spaces.emplace_back(row_copy_floats);
        error_ = nullptr;
        stop_ = false;
        done_ = 0;
        total_ = total;
        last_tick_ = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
        body(spaces[omp_get_thread_num()]);
        if (error_) std::rethrow_exception(error_);
        if (!stop_ && progress_ && !progress_(total_, total_)) stop_ = true;  // final report: done == total
        if (stop_) throw Interrupted();
    }

    template <class Work>
    void step(Work work) {
        if (stop_.load(std::memory_order_relaxed)) return;
        try {
            work();
            done_.fetch_add(1, std::memory_order_relaxed);
            if (omp_get_thread_num() != 0 || !progress_) return;
            const auto now = std::chrono::steady_clock::now();
            if (now - last_tick_ < std::chrono::milliseconds(100)) return;
            last_tick_ = now;
            if (!progress_(done_.load(), total_)) stop_ = true;
        } catch (...) {
#pragma omp critical(hf_error)
            if (!error_) error_ = std::current_exception();
            stop_ = true;
        }
    }

private:
    const Progress& progress_;
    int64_t total_ = 0;
    std::atomic<int64_t> done_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr error_;
    std::chrono::steady_clock::time_point last_tick_;
};

}  // namespace hf
