// A pybind11 module whose function throws a C++ exception that pybind11 turns into a Python
// exception: proves the probe's static LLVM libunwind does not take over C++ unwinding.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

namespace {

int throwing(int depth) {
    if (depth <= 0) {
        throw std::runtime_error("thrown from C++");
    }
    return throwing(depth - 1) + 1;
}

} // namespace

PYBIND11_MODULE(probe_cxx_exceptions, m) {
    m.def("throwing", &throwing, "Throws std::runtime_error after `depth` nested C++ frames");
}
