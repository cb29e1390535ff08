// Layer classification rules (see classifier.h and docs/layers.md for the why of each rule).
#include <layertrace/classifier.h>

#include <fnmatch.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>

namespace layertrace::tracer {

namespace {

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool contains(std::string_view s, std::string_view p) { return s.find(p) != std::string_view::npos; }

bool fileExists(const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0;
}

std::string absolute(const std::string& p) {
    if (p.empty()) {
        return p;
    }
    char* real = ::realpath(p.c_str(), nullptr);
    if (real == nullptr) {
        return p;
    }
    std::string out(real);
    std::free(real);
    return out;
}

// Python module name of an extension file: "_ctypes" for _ctypes.cpython-311-x86_64-linux-gnu.so.
std::string extensionModuleName(std::string_view file) {
    std::string base = baseName(file);
    const auto dot = base.find('.');
    return dot == std::string::npos ? base : base.substr(0, dot);
}

// Does this Python source bind native code itself? Only used for files that could be wrappers;
// evidence: it imports ctypes or cffi, or opens a library with CDLL/ffi.dlopen.
bool sourceUsesFfi(const std::string& path, std::string* what) {
    std::ifstream in(path);
    if (!in) {
        return false;
    }
    static const std::regex kImport(R"((^|\n)\s*(import\s+(ctypes|cffi)\b|from\s+(ctypes|cffi)\b))");
    static const std::regex kOpen(R"(\b(CDLL|PyDLL|cdll\.LoadLibrary|ffi\.dlopen)\s*\()");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > (1u << 20)) {
        text.resize(1u << 20);
    }
    std::smatch m;
    if (std::regex_search(text, m, kImport)) {
        *what = "imports " + std::string(m[3].matched ? m[3].str() : m[4].str());
        return true;
    }
    if (std::regex_search(text, m, kOpen)) {
        *what = "opens a library with " + m[1].str();
        return true;
    }
    return false;
}

} // namespace

std::string baseName(std::string_view path) {
    const auto slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string pythonShortName(std::string_view path) {
    for (std::string_view marker : {"/site-packages/", "/dist-packages/"}) {
        const auto at = path.rfind(marker);
        if (at != std::string_view::npos) {
            return std::string(path.substr(at + marker.size()));
        }
    }
    // Standard library: relative to the lib/pythonX.Y directory.
    static const std::regex kStdlib(R"(/lib/python3\.[0-9]+/)");
    std::match_results<std::string_view::const_iterator> m;
    if (std::regex_search(path.begin(), path.end(), m, kStdlib)) {
        return std::string(path.substr(static_cast<std::size_t>(m.position(0) + m.length(0))));
    }
    return baseName(path);
}

bool isFfiEntrySymbol(std::string_view symbol) {
    return symbol == "ffi_call" || symbol == "ffi_call_go" || symbol == "cffistatic_ffi_call" ||
           startsWith(symbol, "ffi_call_") || startsWith(symbol, "ffi_closure") ||
           startsWith(symbol, "cffistatic_ffi_closure");
}

Classifier::Classifier(ClassifierOptions options) : m_options(std::move(options)) {
    const std::vector<std::string>& roots = m_options.appPaths.empty()
                                                ? std::vector<std::string>{m_options.appDir}
                                                : m_options.appPaths;
    for (const auto& r : roots) {
        if (r.empty()) {
            continue;
        }
        std::string a = absolute(r);
        struct stat st {};
        if (::stat(a.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && a.back() != '/') {
            a += '/';
        }
        m_appRoots.push_back(a);
    }
}

bool Classifier::isStdlibPython(std::string_view path) {
    if (startsWith(path, "<frozen") || startsWith(path, "<string>")) {
        return true;
    }
    if (contains(path, "/site-packages/") || contains(path, "/dist-packages/")) {
        return false;
    }
    static const std::regex kStdlib(R"(/lib/python3\.[0-9]+/)");
    return std::regex_search(path.begin(), path.end(), kStdlib);
}

bool Classifier::isReadyMadeExtension(const ModuleInfo& m) {
    const std::string mod = extensionModuleName(m.path);
    return mod == "_ctypes" || mod == "_cffi_backend" || contains(m.path, "/lib-dynload/") ||
           contains(m.path, "/site-packages/") || contains(m.path, "/dist-packages/");
}

bool Classifier::isBindingTarget(const ModuleInfo& m) {
    if (m.python || m.role == Role::Capi) {
        return false;
    }
    if (m.elf.exportsPyInit && contains(m.path, "/lib-dynload/")) {
        return extensionModuleName(m.path) == "_ctypes";
    }
    return true;
}

bool Classifier::underApp(const std::string& path, std::string* relative) const {
    for (const auto& root : m_appRoots) {
        if (root.back() == '/' ? startsWith(path, root) : path == root) {
            *relative = root.back() == '/' ? path.substr(root.size()) : baseName(path);
            return true;
        }
    }
    return false;
}

bool Classifier::matchesWrapperGlob(const std::string& path, const std::string& relative) const {
    for (const auto& g : m_options.wrapperGlobs) {
        if (fnmatch(g.c_str(), path.c_str(), 0) == 0 ||
            (!relative.empty() && fnmatch(g.c_str(), relative.c_str(), 0) == 0) ||
            fnmatch(g.c_str(), baseName(path).c_str(), 0) == 0) {
            return true;
        }
    }
    return false;
}

void Classifier::classifyObject(ModuleInfo& m) const {
    m.python = false;
    if (m.name.empty()) {
        m.name = baseName(m.path);
    }
    const ElfFacts& f = m.elf;
    if (!f.readable) {
        m.role = Role::Native;
        m.reason = "ELF not readable (" + (m.path.empty() ? std::string("no path") : m.path) +
                   "); assumed to be a plain library";
        return;
    }
    if (f.isInterpreter || startsWith(f.soname, "libpython")) {
        m.role = Role::Capi;
        m.reason = f.isInterpreter ? "defines Py_Initialize and _PyEval_EvalFrameDefault: the interpreter and its C API"
                                   : "SONAME " + f.soname + ": the interpreter library";
        return;
    }
    if (f.isLibffi) {
        m.role = Role::Ffi;
        m.reason = f.soname.empty() ? "defines ffi_call and uses no Python API: libffi"
                                    : "SONAME " + f.soname + ": libffi";
        return;
    }
    if (f.exportsPyInit) {
        m.role = Role::Ext;
        const std::string what = f.pybind11        ? "pybind11 extension module"
                                 : f.cffiGenerated ? "cffi-generated extension module"
                                                   : "C API extension module";
        if (isReadyMadeExtension(m)) {
            m.reason = "exports " + f.pyInitName + ": ready-made " + what +
                       (contains(m.path, "/lib-dynload/") ? " from the standard library"
                        : contains(m.path, "-packages/") ? " from an installed package"
                                                         : "");
        } else {
            m.reason = "exports " + f.pyInitName + ": " + what +
                       " you built; functions Python calls in it are glue, the rest native";
        }
        if (f.bundlesFfi) {
            m.reason += "; bundles libffi (its ffi_call hops are ffi)";
        }
        return;
    }
    m.role = Role::Native;
    if (f.importsPython) {
        m.reason = "uses the Python C API but exports no PyInit_*: a helper library, treated as native";
    } else {
        m.reason = "no PyInit_*, no Python C API: a plain native library";
    }
}

std::string Classifier::packageKey(const std::string& absPath, const std::string& relative, bool inApp) const {
    if (inApp) {
        const auto slash = relative.find('/');
        if (slash == std::string::npos || !fileExists(absPath.substr(0, absPath.size() - relative.size()) +
                                                      relative.substr(0, slash) + "/__init__.py")) {
            return {}; // a top-level script, or a plain directory: not a package
        }
        return absPath.substr(0, absPath.size() - relative.size()) + relative.substr(0, slash);
    }
    for (std::string_view marker : {"/site-packages/", "/dist-packages/"}) {
        const auto at = absPath.rfind(marker);
        if (at != std::string::npos) {
            const auto slash = absPath.find('/', at + marker.size());
            return slash == std::string::npos ? std::string() : absPath.substr(0, slash);
        }
    }
    return {};
}

void Classifier::markWrapperPackage(const std::string& key, const std::string& why) {
    if (key.empty() || !m_wrapperPackages.emplace(key, why).second) {
        return;
    }
    // Every module of a package that binds native code is part of that binding.
    const std::string package = baseName(key);
    for (auto& [path, m] : m_pythonFiles) {
        const auto it = m_packageOf.find(path);
        if (it == m_packageOf.end() || it->second != key || m.role == Role::Wrapper) {
            continue;
        }
        m.role = Role::Wrapper;
        m.reason = "a module of package " + package + ", which " + why;
        m_roleChanges.push_back(path);
    }
}

std::vector<std::string> Classifier::takeRoleChanges() {
    std::vector<std::string> out;
    out.swap(m_roleChanges);
    return out;
}

const ModuleInfo& Classifier::pythonFile(const std::string& path) {
    auto it = m_pythonFiles.find(path);
    if (it != m_pythonFiles.end()) {
        return it->second;
    }
    ModuleInfo m;
    m.python = true;
    m.path = path;
    std::string relative;
    const std::string abs = startsWith(path, "<") ? path : absolute(path);
    const bool inApp = underApp(abs, &relative);
    m.name = inApp ? relative : pythonShortName(path);
    const bool stdlib = !inApp && isStdlibPython(path);
    const std::string key = stdlib ? std::string() : packageKey(abs, relative, inApp);
    std::string evidence;
    bool bindsItself = false;
    if (matchesWrapperGlob(abs, relative)) {
        m.role = Role::Wrapper;
        m.reason = "matches --wrapper";
    } else if (stdlib) {
        m.role = Role::Pylib;
        m.reason = "standard-library Python";
    } else if (inApp) {
        if (!key.empty() && sourceUsesFfi(abs, &evidence)) {
            m.role = Role::Wrapper;
            m.reason = "a package module of the application that " + evidence;
            bindsItself = true;
        } else if (const auto pkg = m_wrapperPackages.find(key); !key.empty() && pkg != m_wrapperPackages.end()) {
            m.role = Role::Wrapper;
            m.reason = "a module of package " + baseName(key) + ", which " + pkg->second;
        } else {
            m.role = Role::App;
            m.reason = m_options.appPaths.empty() ? "under the script's directory" : "under --app";
            if (!key.empty()) {
                m.reason += " (a package module: its package becomes a wrapper if one of its modules calls native code directly)";
            }
        }
    } else if (sourceUsesFfi(abs, &evidence)) {
        m.role = Role::Wrapper;
        m.reason = "library Python outside the application that " + evidence;
        bindsItself = true;
    } else if (const auto pkg = m_wrapperPackages.find(key); !key.empty() && pkg != m_wrapperPackages.end()) {
        m.role = Role::Wrapper;
        m.reason = "a module of package " + baseName(key) + ", which " + pkg->second;
    } else {
        m.role = Role::Pylib;
        m.reason = "library Python outside the application and the standard library";
    }
    if (!key.empty()) {
        m_packageOf[path] = key;
    }
    const ModuleInfo& stored = m_pythonFiles.emplace(path, std::move(m)).first->second;
    if (bindsItself) {
        markWrapperPackage(key, evidence + " (" + stored.name + ")");
    }
    return stored;
}

bool Classifier::noteDirectNativeCall(const std::string& path, std::string_view what) {
    if (m_pythonFiles.find(path) == m_pythonFiles.end()) {
        pythonFile(path);
    }
    ModuleInfo& m = m_pythonFiles.find(path)->second;
    const auto pkg = m_packageOf.find(path);
    // The script itself and files at the application root stay app: calling native code is what
    // the app does. Standard-library files stay pylib. Only package modules turn into wrappers.
    if (pkg == m_packageOf.end() || m.reason == "matches --wrapper") {
        return false;
    }
    const std::string why = "calls " + std::string(what) + " directly (" + m.name + ")";
    const bool changed = m.role != Role::Wrapper;
    if (changed) {
        m.role = Role::Wrapper;
        m.reason = std::string(m.name.find('/') != std::string::npos && pkg->second.find("-packages/") == std::string::npos
                                   ? "a package module of the application"
                                   : "library Python") +
                   " that calls " + std::string(what) + " directly";
        m_roleChanges.push_back(path);
    }
    markWrapperPackage(pkg->second, why);
    return changed;
}

RoleDecision Classifier::classifyFunction(const ModuleInfo& m, std::string_view symbol, std::uint64_t address,
                                          bool calledFromInterpreter, std::optional<bool> usesPyObject) const {
    if (isFfiEntrySymbol(symbol) && m.role != Role::Capi) {
        return {Role::Ffi, "libffi entry point " + std::string(symbol) +
                               (m.role == Role::Ffi ? std::string() : " bundled in " + m.name)};
    }
    if (isFfiEntrySymbol(symbol) && m.role == Role::Capi) {
        return {Role::Ffi, "libffi linked statically into the interpreter"};
    }
    if (m.role != Role::Ext || isReadyMadeExtension(m)) {
        return {m.role, m.reason};
    }
    // Inside an extension you built: which functions are the door Python walks through?
    if (startsWith(symbol, "PyInit_")) {
        return {Role::Glue, "module init function (PyInit_*)"};
    }
    if (startsWith(symbol, "_cffi_f_") || startsWith(symbol, "_cffi_d_")) {
        return {Role::Glue, "cffi-generated wrapper Python calls"};
    }
    if (contains(symbol, "pybind11::") || contains(symbol, "pybind11")) {
        return {Role::Glue, "pybind11 dispatch and conversion code"};
    }
    if (address != 0 && m_mlMeths.count(address) != 0) {
        return {Role::Glue, "ml_meth of a PyCFunction Python called"};
    }
    if (calledFromInterpreter) {
        return {Role::Glue, "called directly by the interpreter (a method or type slot)"};
    }
    if (usesPyObject.value_or(false)) {
        // Marshalling code: converts between Python objects and C data (rosidl's
        // convert_from_py, a helper building a result tuple). It speaks the C API, so it is glue.
        return {Role::Glue, "handles PyObject* (a parameter, result or local in its DWARF): C API glue inside your extension"};
    }
    return {Role::Native, "C/C++ implementation inside your extension " + m.name};
}

} // namespace layertrace::tracer
