// The layer classifier: gives every object, Python file and function a role (app, wrapper, pylib,
// ext, glue, capi, ffi, native) and a human reason. Rules are in docs/layers.md.
#pragma once

#include <layertrace/module_info.h>

#include <cstdint>
#include <map>
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
    // callsNativeDirectly in docs/layers.md). Returns true when that changed its role.
    bool noteDirectNativeCall(const std::string& path, std::string_view what);

    // Function level inside an object: glue vs native inside your own extension, ffi for libffi's
    // entry points wherever they are linked. `calledFromInterpreter`: the caller's return
    // address lies in the interpreter (a type slot or method Python invoked).
    RoleDecision classifyFunction(const ModuleInfo& m, std::string_view symbol, std::uint64_t address,
                                  bool calledFromInterpreter = false) const;
    // ml_meth of a PyCFunction Python called: glue from now on.
    void noteMlMeth(std::uint64_t address) { m_mlMeths.insert(address); }

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

    ClassifierOptions m_options;
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
