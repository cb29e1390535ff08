// Loads and validates the demo catalog (see catalog.h).
#include <layertrace/catalog.h>

#include <layertrace/errors.h>
#include <layertrace/json.h>

#include <cstdlib>
#include <fnmatch.h>
#include <fstream>
#include <sstream>

#ifndef LAYERTRACE_DEFAULT_DEMOS_DIR
#define LAYERTRACE_DEFAULT_DEMOS_DIR ""
#endif
#ifndef LAYERTRACE_DEFAULT_PYTHON
#define LAYERTRACE_DEFAULT_PYTHON "/usr/bin/python3"
#endif

namespace layertrace::tracer {

namespace {

bool anyGlob(const std::vector<std::string>& globs, std::string_view text) {
    if (globs.empty()) {
        return true;
    }
    const std::string s(text);
    for (const auto& g : globs) {
        if (fnmatch(g.c_str(), s.c_str(), 0) == 0) {
            return true;
        }
    }
    return false;
}

// A catalog field that may be a string or a list of strings.
std::vector<std::string> globList(const json::Value* v, const std::string& source, const std::string& where) {
    std::vector<std::string> out;
    if (v == nullptr || v->isNull()) {
        return out;
    }
    if (v->isString()) {
        out.push_back(v->asString());
        return out;
    }
    if (!v->isArray()) {
        throw FormatError(source, 0, where + ": expected a string or a list of strings");
    }
    for (const auto& item : v->asArray()) {
        if (!item.isString()) {
            throw FormatError(source, 0, where + ": list items must be strings");
        }
        out.push_back(item.asString());
    }
    return out;
}

std::string stringField(const json::Value& obj, std::string_view key, const std::string& source,
                        const std::string& where, bool required) {
    const json::Value* v = obj.find(key);
    if (v == nullptr) {
        if (required) {
            throw FormatError(source, 0, where + ": missing \"" + std::string(key) + "\"");
        }
        return {};
    }
    if (!v->isString()) {
        throw FormatError(source, 0, where + ": \"" + std::string(key) + "\" must be a string");
    }
    return v->asString();
}

} // namespace

bool HopPattern::matches(Role hopRole, std::string_view module, std::string_view symbol) const {
    if (role && *role != hopRole) {
        return false;
    }
    if (!anyGlob(modules, module)) {
        return false;
    }
    if (anyGlob(symbols, symbol)) {
        return true;
    }
    // Python hops carry qualified names ("Publisher.publish"); a catalog may name the method alone.
    const auto dot = symbol.rfind('.');
    return dot != std::string_view::npos && anyGlob(symbols, symbol.substr(dot + 1));
}

std::vector<std::string> Demo::resolvedArgv(const std::string& python) const {
    std::vector<std::string> out;
    out.reserve(argv.size());
    for (const auto& a : argv) {
        out.push_back(a == "{python}" ? python : a);
    }
    return out;
}

const Demo* Catalog::find(std::string_view name) const {
    for (const auto& d : demos) {
        if (d.name == name) {
            return &d;
        }
    }
    return nullptr;
}

Catalog Catalog::parse(std::string_view text, const std::string& source, const std::string& demosDir) {
    const json::Value root = json::parse(text, source);
    if (!root.isObject()) {
        throw FormatError(source, 0, "the catalog must be a JSON object");
    }
    Catalog cat;
    cat.demosDir = demosDir;
    const json::Value* schema = root.find("schema");
    if (schema == nullptr || !schema->isNumber() || schema->asNumber() != 1) {
        throw FormatError(source, 0, "\"schema\" must be 1 (this layertrace reads catalog schema 1)");
    }
    cat.schema = 1;
    const json::Value* demos = root.find("demos");
    if (demos == nullptr || !demos->isArray()) {
        throw FormatError(source, 0, "\"demos\" must be a list");
    }
    for (const auto& d : demos->asArray()) {
        if (!d.isObject()) {
            throw FormatError(source, 0, "every entry of \"demos\" must be an object");
        }
        Demo demo;
        demo.name = stringField(d, "name", source, "demo", true);
        const std::string where = "demo " + demo.name;
        demo.part = stringField(d, "part", source, where, false);
        demo.title = stringField(d, "title", source, where, false);
        demo.summary = stringField(d, "summary", source, where, false);
        const json::Value* run = d.find("run");
        const json::Value* argv = run ? run->find("argv") : nullptr;
        if (argv == nullptr || !argv->isArray() || argv->asArray().empty()) {
            throw FormatError(source, 0, where + ": \"run.argv\" must be a non-empty list");
        }
        demo.argv = globList(argv, source, where + " run.argv");
        if (const json::Value* paths = d.find("paths")) {
            if (!paths->isArray()) {
                throw FormatError(source, 0, where + ": \"paths\" must be a list");
            }
            for (const auto& p : paths->asArray()) {
                DemoPath path;
                path.name = stringField(p, "name", source, where + " path", false);
                const json::Value* hops = p.find("hops");
                if (hops == nullptr || !hops->isArray()) {
                    throw FormatError(source, 0, where + " path " + path.name + ": \"hops\" must be a list");
                }
                for (const auto& h : hops->asArray()) {
                    HopPattern hop;
                    const std::string hopWhere = where + " path " + path.name;
                    const std::string role = stringField(h, "role", source, hopWhere, false);
                    if (!role.empty()) {
                        hop.role = roleFromName(role);
                        if (!hop.role) {
                            throw FormatError(source, 0, hopWhere + ": unknown role \"" + role + "\"");
                        }
                    }
                    hop.modules = globList(h.find("module"), source, hopWhere + " module");
                    hop.symbols = globList(h.find("symbol"), source, hopWhere + " symbol");
                    path.hops.push_back(std::move(hop));
                }
                demo.paths.push_back(std::move(path));
            }
        }
        cat.demos.push_back(std::move(demo));
    }
    return cat;
}

Catalog Catalog::load(const std::string& catalogPath) {
    std::ifstream in(catalogPath, std::ios::binary);
    if (!in) {
        throw IoError(catalogPath, "cannot open the demo catalog (build the demos, or set LAYERTRACE_DEMOS_DIR)");
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::string dir = catalogPath;
    const auto slash = dir.rfind('/');
    dir = slash == std::string::npos ? std::string(".") : dir.substr(0, slash);
    return parse(text.str(), catalogPath, dir);
}

std::string Catalog::defaultDemosDir() {
    if (const char* env = std::getenv("LAYERTRACE_DEMOS_DIR"); env != nullptr && *env != '\0') {
        return env;
    }
    return LAYERTRACE_DEFAULT_DEMOS_DIR;
}

std::string defaultPython() {
    if (const char* env = std::getenv("LAYERTRACE_PYTHON"); env != nullptr && *env != '\0') {
        return env;
    }
    return LAYERTRACE_DEFAULT_PYTHON;
}

} // namespace layertrace::tracer
