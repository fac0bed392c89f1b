// Progress and Ctrl-C for the native modules: a callback polled on the
// calling thread between units of work; an interrupt (or an error raised by
// the Python callback) is parked and stops the run.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "../common/errors.h"
#include "../common/knobs.h"

namespace hf::bindings {

namespace py = pybind11;

// Progress callback polled on the calling thread: Ctrl-C (or an error raised
// by the Python callback) is parked and stops the run.
struct ProgressBridge {
    py::object callback;
    std::unique_ptr<py::error_already_set> pending;

    std::function<bool(int64_t, int64_t)> make() {
        return [this](int64_t done, int64_t total) {
            py::gil_scoped_acquire gil;
            try {
                if (PyErr_CheckSignals() != 0) throw py::error_already_set();
                if (done >= 0 && !callback.is_none()) callback(done, total);  // done < 0: a poll only
                return true;
            } catch (py::error_already_set& e) {
                pending = std::make_unique<py::error_already_set>(std::move(e));
                return false;
            }
        };
    }

    // Runs fn without the GIL; an interrupted run raises the parked error.
    template <class Fn>
    void run(Fn fn) {
        try {
            knobs::refresh();  // with the GIL still held
            py::gil_scoped_release release;
            fn();
        } catch (const hf::Interrupted&) {
            if (pending) throw std::move(*pending);
            throw py::error_already_set();
        }
    }
};

}  // namespace hf::bindings
