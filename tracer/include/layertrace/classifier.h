// The layer classifier: gives every object, Python file and function a role (app, wrapper, pylib,
// ext, glue, capi, ffi, native) and a human reason. Rules are in docs/layers.md.
#pragma once

#include <layertrace/module_info.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::tracer {

struct ClassifierOptions {
    std::vector<std::string> appPaths;     // --app (files or directories); empty: appDir below
    std::vector<std::string> wrapperGlobs; // --wrapper
    std::string appDir;                    // the script's directory (default application root)
};

struct RoleDecision {
    Role role = Role::Unknown;
    std::string reason;
};

class Classifier {
public:
    explicit Classifier(ClassifierOptions options = {});

    // Object level: fills role, reason and name of a mapped object from m.path and m.elf.
    void classifyObject(ModuleInfo& m) const;

    // Python files: role app / wrapper / pylib and the short name shown in paths. The decision is
    // cached; promoteWrapper() may later turn an app/pylib file into a wrapper.
    const ModuleInfo& pythonFile(const std::string& path);
    // A Python file was seen calling binding machinery or your own extension directly (see
    // docs/layers.md). Returns true when that changed its role.
    bool noteDirectNativeCall(const std::string& path, std::string_view what);
    // Paths of Python files whose role changed since the last call (a file promoted to wrapper,
    // and the other modules of its package), for re-announcing them to front ends.
    std::vector<std::string> takeRoleChanges();

    // Function level inside an object: glue vs native inside your own extension, ffi for libffi's
    // entry points wherever they are linked. `calledFromInterpreter`: the caller's return
    // address lies in the interpreter (a type slot or method Python invoked).
    // `usesPyObject`: the function takes or returns PyObject* per its DWARF (nullopt: unknown).
    RoleDecision classifyFunction(const ModuleInfo& m, std::string_view symbol, std::uint64_t address,
                                  bool calledFromInterpreter = false,
                                  std::optional<bool> usesPyObject = std::nullopt) const;
    // ml_meth of a PyCFunction Python called: glue from now on. True when it was new (decisions
    // made about that address before may change).
    bool noteMlMeth(std::uint64_t address) { return m_mlMeths.insert(address).second; }

    // Whether calls into this object count as "native code" for the wrapper rule: FFI, your own
    // extensions, third-party extensions and plain libraries; not the interpreter and not the
    // standard library's own extension modules (math, _json...), except _ctypes.
    static bool isBindingTarget(const ModuleInfo& m);
    // A ready-made extension (stdlib lib-dynload, site/dist-packages, _ctypes, _cffi_backend) as
    // opposed to one you built.
    static bool isReadyMadeExtension(const ModuleInfo& m);
    static bool isStdlibPython(std::string_view path);

    const ClassifierOptions& options() const { return m_options; }
    const std::map<std::string, ModuleInfo>& pythonFiles() const { return m_pythonFiles; }

private:
    bool underApp(const std::string& path, std::string* relative) const;
    bool matchesWrapperGlob(const std::string& path, const std::string& relative) const;

    // "<root>/<top-level package>" of a package module under the app or in site-packages; "".
    std::string packageKey(const std::string& absPath, const std::string& relative, bool inApp) const;
    void markWrapperPackage(const std::string& key, const std::string& why);

    ClassifierOptions m_options;
    std::map<std::string, std::string> m_wrapperPackages; // package key -> why it binds native code
    std::map<std::string, std::string> m_packageOf;       // Python file -> its package key
    std::vector<std::string> m_roleChanges;
    std::vector<std::string> m_appRoots; // normalized, each ending in '/' (or a file path)
    std::map<std::string, ModuleInfo> m_pythonFiles;
    std::set<std::uint64_t> m_mlMeths;
};

// Short display names.
std::string baseName(std::string_view path);
// "mypkg/bindings.py" for a file under a site/dist-packages or stdlib dir; else the base name.
std::string pythonShortName(std::string_view path);
bool isFfiEntrySymbol(std::string_view symbol);

} // namespace layertrace::tracer
