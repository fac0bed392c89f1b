// The numpy side of a ball pass, shared by the CPU and CUDA modules: one point
// set's optional squared radii (float64 [n] or [n x layers], -0.0 read as +0.0)
// and its outputs, each [n x layers].
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "../common/errors.h"

namespace hf::bindings {

namespace py = pybind11;

struct BallArrays {
    py::array_t<double> radius2;  // empty when the set has no balls
    py::array_t<int64_t> in_count, own_count;
    py::array_t<double> min_radius2;
    bool has_radii = false;

    BallArrays(int64_t n, int64_t layers, const py::object& r2)
        : in_count({n, layers}), own_count({n, layers}), min_radius2({n, layers}) {
        if (r2.is_none()) return;
        const auto given = py::array_t<double, py::array::c_style | py::array::forcecast>(r2);
        hf::check_arg((given.ndim() == 1 && layers == 1 && given.shape(0) == n) ||
                          (given.ndim() == 2 && given.shape(0) == n && given.shape(1) == layers),
                      "radii must be [points] or [points x layers], one per point and layer");
        radius2 = py::array_t<double>(n * layers);
        double* dst = radius2.mutable_data();
        for (int64_t i = 0; i < n * layers; ++i) dst[i] = given.data()[i] + 0.0;  // -0.0 -> +0.0 (the GPU orders radii by bits)
        has_radii = true;
    }
    const double* radii() const { return has_radii ? radius2.data() : nullptr; }
    py::dict to_dict() const {
        py::dict d;
        d["in_count"] = in_count;
        d["min_radius2"] = min_radius2;
        d["own_count"] = own_count;
        return d;
    }
};

}  // namespace hf::bindings
