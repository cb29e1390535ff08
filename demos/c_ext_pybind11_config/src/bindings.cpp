// pybind11 bindings: exposes config_demo::Config as mymodule.Config with the same API as the Part I C module.
#include "config.h"

#include <memory>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <string>

namespace py = pybind11;
using config_demo::Config;
using config_demo::ConfigHandle;

namespace {

constexpr const char* kHandleCapsuleName = "mymodule.ConfigHandle";

std::string typeName(py::handle value) {
    return Py_TYPE(value.ptr())->tp_name;
}

// Setters take py::object and check types themselves: pybind11's own casters would accept
// True as a timeout and 1 as ssl (implicit conversion), and Part I refuses both.
void setTimeout(Config& self, py::handle value) {
    if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr())) {
        throw py::type_error("timeout must be an int, not " + typeName(value));
    }
    int overflow = 0;
    const long seconds = PyLong_AsLongAndOverflow(value.ptr(), &overflow);
    if (overflow != 0) {
        throw py::value_error("timeout must be between 1 and 3600 seconds, got " +
                              py::str(value).cast<std::string>());
    }
    self.setTimeout(seconds); // std::invalid_argument -> ValueError, translated by pybind11
}

void setUrl(Config& self, py::handle value) {
    if (!PyUnicode_Check(value.ptr())) {
        throw py::type_error("url must be a str, not " + typeName(value));
    }
    auto url = value.cast<std::string>();
    // Validated here as well as in Config::setUrl so the message can show Python's repr of the str.
    if (std::string why = config_demo::urlProblem(url); !why.empty()) {
        throw py::value_error("invalid url " + py::repr(value).cast<std::string>() + ": " + why);
    }
    self.setUrl(std::move(url));
}

void setSsl(Config& self, py::handle value) {
    if (!PyBool_Check(value.ptr())) {
        throw py::type_error("ssl must be a bool, not " + typeName(value));
    }
    self.setSsl(value.ptr() == Py_True);
}

py::capsule nativeHandle(const Config& self) {
    auto handle = std::make_unique<ConfigHandle>(self);
    py::capsule capsule(handle.get(), kHandleCapsuleName, [](PyObject* object) {
        delete static_cast<ConfigHandle*>(PyCapsule_GetPointer(object, kHandleCapsuleName));
    });
    handle.release(); // owned by the capsule from here on
    return capsule;
}

std::string processHandle(py::handle capsule) {
    if (!PyCapsule_CheckExact(capsule.ptr())) {
        throw py::type_error(std::string("expected a ") + kHandleCapsuleName + " capsule, not " +
                             typeName(capsule));
    }
    if (!PyCapsule_IsValid(capsule.ptr(), kHandleCapsuleName)) {
        const char* name = PyCapsule_GetName(capsule.ptr());
        throw py::value_error(std::string("capsule is named ") + (name ? name : "NULL") + ", expected " +
                              kHandleCapsuleName);
    }
    return static_cast<ConfigHandle*>(PyCapsule_GetPointer(capsule.ptr(), kHandleCapsuleName))->process();
}

} // namespace

PYBIND11_MODULE(mymodule, m) {
    m.doc() = "Part VII: the Part I Config type, authored in C++ with pybind11.";

    py::class_<Config>(m, "Config",
                       "Config(timeout=30, url='http://example.com', ssl=True)\n\n"
                       "A validated client configuration whose process() runs in native code.")
        .def(py::init([](py::handle timeout, py::handle url, py::handle ssl) {
                 Config config;
                 setTimeout(config, timeout);
                 setUrl(config, url);
                 setSsl(config, ssl);
                 return config;
             }),
             py::arg("timeout") = 30, py::arg("url") = "http://example.com", py::arg("ssl") = true)
        .def_property("timeout", &Config::timeout, &setTimeout, "Request timeout in seconds, 1 to 3600.")
        .def_property("url", &Config::url, &setUrl, "http:// or https:// url with a host.")
        .def_property("ssl", &Config::ssl, &setSsl, "Use TLS; an http:// url is upgraded to https.")
        .def_property_readonly("processed", &Config::processed, "Number of successful process() calls.")
        .def("process", &Config::process, "Build the canonical request line for this configuration.")
        .def("native_handle", &nativeHandle, "An opaque native snapshot of this Config, in a PyCapsule.")
        .def("__repr__", [](const Config& self) {
            return "Config(timeout=" + std::to_string(self.timeout()) +
                   ", url=" + py::repr(py::str(self.url())).cast<std::string>() +
                   ", ssl=" + (self.ssl() ? "True" : "False") + ")";
        });

    m.def("process_handle", &processHandle, py::arg("handle"),
          "Build the request line from a Config.native_handle() capsule.");
    m.def("live_handles", &ConfigHandle::liveCount,
          "Native handles created and not yet freed by their capsule.");
    // Bound straight to the C++ function: its std::invalid_argument becomes ValueError via pybind11's
    // exception translation, a C++ exception crossing the dispatcher (the tracer's tests use this).
    m.def("check_timeout", &config_demo::validateTimeout, py::arg("seconds"),
          "Raise ValueError (from a C++ std::invalid_argument) unless seconds is a valid timeout.");
    m.attr("HANDLE_CAPSULE_NAME") = kHandleCapsuleName;
}
