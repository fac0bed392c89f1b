// Types every backend shares: the distance metric and the progress callback.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "errors.h"

namespace hf {

enum class Metric : int { SqEuclidean = 0, Euclidean = 1, InnerProduct = 2, Cosine = 3 };

// The metric as Python names it; parsed once, at the binding.
inline Metric parse_metric(const std::string& name) {
    if (name == "sqeuclidean") return Metric::SqEuclidean;
    if (name == "euclidean") return Metric::Euclidean;
    if (name == "inner_product") return Metric::InnerProduct;
    if (name == "cosine") return Metric::Cosine;
    throw_value_error("metric must be one of cosine, euclidean, inner_product, sqeuclidean, got '" + name + "'");
}

// Called on the calling thread with (done, total) work units (about every 100 ms
// on the CPU, between kernel launches on the GPU); returning false stops the run,
// which then throws hf::Interrupted.
using Progress = std::function<bool(int64_t, int64_t)>;

}  // namespace hf
