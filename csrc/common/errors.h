// Error helpers shared by every backend. The bindings translate
// std::invalid_argument into ValueError and std::runtime_error into RuntimeError.
#pragma once
#include <stdexcept>
#include <string>

namespace hf {

[[noreturn]] inline void throw_value_error(const std::string& what) {
    throw std::invalid_argument(what);
}

inline void check_arg(bool ok, const std::string& what) {
    if (!ok) throw_value_error(what);
}

// Thrown by the engine when the progress callback asked it to stop (Ctrl-C).
struct Interrupted : std::runtime_error {
    Interrupted() : std::runtime_error("interrupted") {}
};

}  // namespace hf
