// Classifier tests against real ELF files: fixture extensions (C API, pybind11, cffi-style), a
// plain library, the system's libffi, the interpreter and _ctypes; Python-file rules on a
// temporary application tree.
#include "test_helpers.h"

#include <layertrace/classifier.h>
#include <layertrace/elf_inspect.h>
#include <layertrace/symbolizer.h>

#include <gtest/gtest.h>

#include <algorithm>

using namespace layertrace;
using namespace layertrace::tracer;

namespace {

ModuleInfo object(const std::string& path) {
    ModuleInfo m;
    m.path = path;
    m.elf = inspectElf(path);
    Classifier().classifyObject(m);
    return m;
}

} // namespace

TEST(ElfInspect, ExtensionFixture) {
    const ElfFacts f = inspectElf(FIXTURE_EXT);
    EXPECT_TRUE(f.readable);
    EXPECT_TRUE(f.exportsPyInit);
    EXPECT_EQ(f.pyInitName, "PyInit_fixture_ext");
    EXPECT_TRUE(f.importsPython);
    EXPECT_FALSE(f.isInterpreter);
    EXPECT_FALSE(f.pybind11);
    EXPECT_FALSE(f.cffiGenerated);
    EXPECT_TRUE(f.hasDebugInfo);
}

TEST(ElfInspect, PlainLibraryAndMissingFile) {
    const ElfFacts f = inspectElf(FIXTURE_PLAIN);
    EXPECT_TRUE(f.readable);
    EXPECT_FALSE(f.exportsPyInit);
    EXPECT_FALSE(f.importsPython);
    EXPECT_FALSE(inspectElf("/nonexistent/libnothing.so").readable);
    EXPECT_FALSE(inspectElf(FIXTURE_SOURCE_DIR "/fixture_plain.c").readable);
}

TEST(ElfInspect, InterpreterLibffiPybindCffi) {
    EXPECT_TRUE(inspectElf(PYTHON_EXE).isInterpreter);
    const ElfFacts ffi = inspectElf(LIBFFI_SO);
    EXPECT_TRUE(ffi.isLibffi);
    EXPECT_EQ(ffi.soname.rfind("libffi", 0), 0u);
    EXPECT_TRUE(inspectElf(FIXTURE_PYBIND).pybind11);
    EXPECT_TRUE(inspectElf(FIXTURE_CFFI).cffiGenerated);
}

TEST(Classifier, ObjectRoles) {
    EXPECT_EQ(object(PYTHON_EXE).role, Role::Capi);
    EXPECT_EQ(object(LIBFFI_SO).role, Role::Ffi);
    EXPECT_EQ(object(FIXTURE_PLAIN).role, Role::Native);
    const ModuleInfo ext = object(FIXTURE_EXT);
    EXPECT_EQ(ext.role, Role::Ext);
    EXPECT_NE(ext.reason.find("you built"), std::string::npos) << ext.reason;
    const ModuleInfo ctypes = object(CTYPES_EXT);
    EXPECT_EQ(ctypes.role, Role::Ext);
    EXPECT_NE(ctypes.reason.find("ready-made"), std::string::npos) << ctypes.reason;
    EXPECT_NE(object(FIXTURE_PYBIND).reason.find("pybind11"), std::string::npos);
    EXPECT_NE(object(FIXTURE_CFFI).reason.find("cffi"), std::string::npos);
    ModuleInfo missing;
    missing.path = "/nonexistent/libgone.so";
    Classifier().classifyObject(missing);
    EXPECT_EQ(missing.role, Role::Native);
    EXPECT_NE(missing.reason.find("not readable"), std::string::npos);
}

TEST(Classifier, FunctionsInsideYourExtension) {
    Classifier c;
    const ModuleInfo ext = object(FIXTURE_EXT);
    EXPECT_EQ(c.classifyFunction(ext, "PyInit_fixture_ext", 0).role, Role::Glue);
    EXPECT_EQ(c.classifyFunction(ext, "fixture_impl", 0x1000).role, Role::Native);
    EXPECT_EQ(c.classifyFunction(ext, "fixture_method", 0x2000).role, Role::Native);
    c.noteMlMeth(0x2000); // Python called it through a PyCFunction: the door into the extension
    EXPECT_EQ(c.classifyFunction(ext, "fixture_method", 0x2000).role, Role::Glue);
    EXPECT_EQ(c.classifyFunction(ext, "fixture_impl", 0x1000, /*calledFromInterpreter=*/true).role, Role::Glue);
    // Marshalling helpers that take PyObject* (per DWARF) are glue; plain C stays native.
    EXPECT_EQ(c.classifyFunction(ext, "convert_from_py", 0x3000, false, true).role, Role::Glue);
    EXPECT_EQ(c.classifyFunction(ext, "create_message", 0x4000, false, false).role, Role::Native);

    const ModuleInfo pyb = object(FIXTURE_PYBIND);
    EXPECT_EQ(c.classifyFunction(pyb, "pybind11::cpp_function::dispatcher(_object*, _object*, _object*)", 0).role,
              Role::Glue);
    EXPECT_EQ(c.classifyFunction(pyb, "fixture::scale(int)", 0).role, Role::Native);
    const ModuleInfo cffi = object(FIXTURE_CFFI);
    EXPECT_EQ(c.classifyFunction(cffi, "_cffi_f_add", 0).role, Role::Glue);
    EXPECT_EQ(c.classifyFunction(cffi, "add", 0).role, Role::Native);
}

TEST(Classifier, ReadyMadeExtensionsAndFfiEntryPoints) {
    Classifier c;
    const ModuleInfo ctypes = object(CTYPES_EXT);
    EXPECT_EQ(c.classifyFunction(ctypes, "PyInit__ctypes", 0).role, Role::Ext);
    EXPECT_EQ(c.classifyFunction(ctypes, "_ctypes_callproc", 0).role, Role::Ext);
    // libffi bundled into an extension (pyenv's cffi) is still ffi.
    EXPECT_EQ(c.classifyFunction(ctypes, "cffistatic_ffi_call", 0).role, Role::Ffi);
    EXPECT_EQ(c.classifyFunction(object(PYTHON_EXE), "ffi_call", 0).role, Role::Ffi);
    EXPECT_EQ(c.classifyFunction(object(PYTHON_EXE), "PyObject_Call", 0).role, Role::Capi);
    EXPECT_EQ(c.classifyFunction(object(LIBFFI_SO), "ffi_call", 0).role, Role::Ffi);
    EXPECT_TRUE(Classifier::isBindingTarget(ctypes));
    EXPECT_FALSE(Classifier::isBindingTarget(object(PYTHON_EXE)));
}

TEST(Classifier, PythonFiles) {
    test::TempTree app;
    const std::string user = app.write("user.py", "import mypkg\n");
    const std::string init = app.write("mypkg/__init__.py", "");
    const std::string bindings = app.write("mypkg/bindings.py", "import ctypes\nlib = ctypes.CDLL('x')\n");
    const std::string util = app.write("mypkg/util.py", "def f():\n    return 1\n");
    const std::string helper = app.write("helper.py", "from ctypes import CDLL\n");
    const std::string plainA = app.write("plain/__init__.py", "");
    const std::string plainB = app.write("plain/core.py", "def g():\n    return 2\n");
    ClassifierOptions opts;
    opts.appDir = app.root();
    Classifier c(opts);
    EXPECT_EQ(c.pythonFile(user).role, Role::App);
    EXPECT_EQ(c.pythonFile(user).name, "user.py");
    EXPECT_EQ(c.pythonFile(init).role, Role::App); // nothing known about mypkg yet
    EXPECT_TRUE(c.takeRoleChanges().empty());
    EXPECT_EQ(c.pythonFile(bindings).role, Role::Wrapper);
    EXPECT_EQ(c.pythonFile(bindings).name, "mypkg/bindings.py");
    EXPECT_NE(c.pythonFile(bindings).reason.find("imports ctypes"), std::string::npos);
    // The package binds native code: its other modules are part of the binding, seen before or after.
    EXPECT_EQ(c.takeRoleChanges(), std::vector<std::string>{init});
    EXPECT_EQ(c.pythonFile(init).role, Role::Wrapper);
    EXPECT_EQ(c.pythonFile(util).role, Role::Wrapper);
    EXPECT_NE(c.pythonFile(util).reason.find("package mypkg"), std::string::npos) << c.pythonFile(util).reason;
    // A script at the application root that uses ctypes itself is still the app.
    EXPECT_EQ(c.pythonFile(helper).role, Role::App);
    EXPECT_EQ(c.pythonFile("/usr/lib/python3.11/ctypes/__init__.py").role, Role::Pylib);
    EXPECT_EQ(c.pythonFile("/usr/lib/python3.11/ctypes/__init__.py").name, "ctypes/__init__.py");
    EXPECT_EQ(c.pythonFile("<frozen importlib._bootstrap>").role, Role::Pylib);
    EXPECT_EQ(c.pythonFile("/usr/lib/python3/dist-packages/somepkg/core.py").role, Role::Pylib);
    EXPECT_EQ(c.pythonFile("/usr/lib/python3/dist-packages/somepkg/core.py").name, "somepkg/core.py");

    // Dynamic evidence: a package module seen calling native code directly makes its package a
    // wrapper; the script itself and the standard library never change.
    EXPECT_EQ(c.pythonFile(plainA).role, Role::App);
    EXPECT_EQ(c.pythonFile(plainB).role, Role::App);
    EXPECT_TRUE(c.noteDirectNativeCall(plainB, "native libfoo.so"));
    EXPECT_EQ(c.pythonFile(plainB).role, Role::Wrapper);
    EXPECT_EQ(c.pythonFile(plainA).role, Role::Wrapper);
    auto changes = c.takeRoleChanges();
    std::sort(changes.begin(), changes.end());
    EXPECT_EQ(changes, (std::vector<std::string>{plainA, plainB}));
    EXPECT_FALSE(c.noteDirectNativeCall(plainB, "native libfoo.so"));
    EXPECT_FALSE(c.noteDirectNativeCall(user, "ffi libffi.so.8"));
    EXPECT_EQ(c.pythonFile(user).role, Role::App);
    EXPECT_FALSE(c.noteDirectNativeCall("/usr/lib/python3.11/ctypes/__init__.py", "ext _ctypes"));
    EXPECT_TRUE(c.noteDirectNativeCall("/usr/lib/python3/dist-packages/somepkg/core.py", "ext _somepkg"));
    EXPECT_EQ(c.pythonFile("/usr/lib/python3/dist-packages/somepkg/core.py").role, Role::Wrapper);
    EXPECT_EQ(c.pythonFile("/usr/lib/python3/dist-packages/somepkg/other.py").role, Role::Wrapper);
    EXPECT_EQ(c.pythonFile("/usr/lib/python3/dist-packages/otherpkg/x.py").role, Role::Pylib);
}

TEST(Classifier, Overrides) {
    test::TempTree app;
    const std::string user = app.write("user.py", "");
    const std::string lib = app.write("vendor/thing.py", "import ctypes\n");
    ClassifierOptions opts;
    opts.appDir = app.root();
    opts.appPaths = {user};           // --app: only the script is the application
    opts.wrapperGlobs = {"*/glue_*.py"}; // --wrapper
    Classifier c(opts);
    EXPECT_EQ(c.pythonFile(user).role, Role::App);
    EXPECT_NE(c.pythonFile(user).reason.find("--app"), std::string::npos);
    EXPECT_EQ(c.pythonFile(lib).role, Role::Wrapper); // outside --app, binds with ctypes
    const std::string glue = app.write("x/glue_io.py", "");
    EXPECT_EQ(c.pythonFile(glue).role, Role::Wrapper);
    EXPECT_EQ(c.pythonFile(glue).reason, "matches --wrapper");
}
