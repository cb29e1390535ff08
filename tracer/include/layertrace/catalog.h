// The demo catalog (demos/catalog.json, staged as <demos dir>/catalog.json): every demo's command
// and the layer paths its calls take. Read by the GUI launcher, the CLI and the integration tests.
#pragma once

#include <layertrace/trace_event.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::tracer {

// One expected hop: a role and fnmatch globs for module and symbol. Several globs = any of them;
// no glob = anything matches. A symbol glob matches the whole symbol or, for qualified Python
// names, the part after the last '.' ("publish" matches "Publisher.publish").
struct HopPattern {
    std::optional<Role> role;
    std::vector<std::string> modules;
    std::vector<std::string> symbols;

    bool matches(Role hopRole, std::string_view module, std::string_view symbol) const;
};

struct DemoPath {
    std::string name;            // "config.process()"
    std::vector<HopPattern> hops; // outermost first
};

struct Demo {
    std::string name;  // folder name under the demos dir
    std::string part;
    std::string title;
    std::string summary;
    std::vector<std::string> argv; // "{python}" stands for the configured interpreter
    std::vector<DemoPath> paths;

    // argv with "{python}" replaced.
    std::vector<std::string> resolvedArgv(const std::string& python) const;
};

struct Catalog {
    int schema = 0;
    std::string demosDir; // folder holding the staged demos (the catalog file's folder)
    std::vector<Demo> demos;

    const Demo* find(std::string_view name) const;
    std::string demoDir(const Demo& demo) const { return demosDir + "/" + demo.name; }

    // Throws IoError (unreadable) or FormatError (bad JSON or schema, with the offset/key).
    static Catalog load(const std::string& catalogPath);
    static Catalog parse(std::string_view text, const std::string& source, const std::string& demosDir);
    // $LAYERTRACE_DEMOS_DIR, else the build tree's staged demos (compile-time default).
    static std::string defaultDemosDir();
};

// The interpreter demos run with: $LAYERTRACE_PYTHON, else the one the build was configured with.
std::string defaultPython();

} // namespace layertrace::tracer
