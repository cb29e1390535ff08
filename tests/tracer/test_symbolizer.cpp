// Symbolizer tests on golden binaries: fixtures reported at an arbitrary load bias resolve to
// their symbols, demangled C++ names and DWARF file:line; stripped objects (libffi) resolve through
// .dynsym; unknown addresses stay honest (module+offset or nothing).
#include <layertrace/symbolizer.h>

#include <gtest/gtest.h>

#include <dlfcn.h>

#include <filesystem>

using namespace layertrace::tracer;

namespace {
constexpr std::uint64_t kBias = 0x7f1200000000;
}

TEST(Symbolizer, NamesAndLinesFromDwarf) {
    Symbolizer s;
    ModuleInfo& m = s.addModule(1, FIXTURE_PLAIN, kBias);
    EXPECT_EQ(m.name, "libfixture_plain.so");
    const std::uint64_t add = s.addressOf(m, "plain_add");
    ASSERT_NE(add, 0u);
    EXPECT_GE(add, kBias);
    const Symbol sym = s.lookup(add + 4);
    ASSERT_NE(sym.module, nullptr);
    EXPECT_EQ(sym.module->id, 1u);
    EXPECT_EQ(sym.name, "plain_add");
    EXPECT_EQ(sym.symbolOffset, 4u);
    EXPECT_EQ(sym.moduleOffset, add + 4 - kBias);
    EXPECT_NE(sym.file.find("fixture_plain.c"), std::string::npos) << sym.file;
    EXPECT_GE(sym.line, 2); // plain_add spans lines 2-5 of fixture_plain.c
    EXPECT_LE(sym.line, 5);
    EXPECT_EQ(s.moduleAt(add), &m);
}

TEST(Symbolizer, DemanglesCxx) {
    Symbolizer s;
    ModuleInfo& m = s.addModule(2, FIXTURE_CXX, kBias);
    const std::uint64_t run = s.addressOf(m, "fixture::Widget::run(int) const");
    ASSERT_NE(run, 0u);
    EXPECT_EQ(s.lookup(run).name, "fixture::Widget::run(int) const");
    EXPECT_EQ(demangle("_ZN7fixture6WidgetC2Ev"), "fixture::Widget::Widget()");
    EXPECT_EQ(demangle("plain_add"), "plain_add");
    EXPECT_EQ(demangle("_Znot-mangled"), "_Znot-mangled");
}

TEST(Symbolizer, StrippedLibffiThroughDynsym) {
    Symbolizer s;
    ModuleInfo& m = s.addModule(3, LIBFFI_SO, kBias);
    EXPECT_FALSE(m.elf.hasSymtab);
    const std::uint64_t call = s.addressOf(m, "ffi_call");
    ASSERT_NE(call, 0u);
    const Symbol sym = s.lookup(call);
    EXPECT_EQ(sym.name, "ffi_call");
    EXPECT_TRUE(sym.file.empty());
}

TEST(Symbolizer, UnknownAddressesUnmapAndRemap) {
    Symbolizer s;
    ModuleInfo& m = s.addModule(4, FIXTURE_PLAIN, kBias);
    const Symbol none = s.lookup(0x1000);
    EXPECT_EQ(none.module, nullptr);
    EXPECT_EQ(none.display(), "?");
    const std::uint64_t add = s.addressOf(m, "plain_add");
    s.removeModule(4);
    // The probe sends a ModuleUnmap after every event recorded before the dlclose: an address
    // in an unmapped object names nothing.
    EXPECT_EQ(s.lookup(add).module, nullptr);
    EXPECT_EQ(s.moduleAt(add), nullptr);
    EXPECT_EQ(s.moduleById(4), &m); // still known by id for events that refer to it
    // The same object mapped again at the same place is live again.
    EXPECT_EQ(&s.addModule(6, FIXTURE_PLAIN, kBias), &m);
    EXPECT_EQ(s.lookup(add).module, &m);
    EXPECT_EQ(s.lookup(add).name, "plain_add");
    // Another object mapped later at the same place names its addresses.
    s.removeModule(6);
    ModuleInfo& later = s.addModule(5, LIBFFI_SO, kBias);
    ASSERT_NE(s.moduleAt(add), nullptr);
    EXPECT_EQ(s.moduleAt(add), &later);
    EXPECT_EQ(s.lookup(add).module, &later);
}

TEST(Symbolizer, MatchesTheRealLoaderThroughProcMaps) {
    // Load the fixture for real and find it through /proc/self/maps: bias and symbol must agree
    // with what the dynamic loader says.
    void* h = dlopen(FIXTURE_PLAIN, RTLD_NOW);
    ASSERT_NE(h, nullptr);
    void* fn = dlsym(h, "plain_twice");
    ASSERT_NE(fn, nullptr);
    Dl_info info{};
    ASSERT_NE(dladdr(fn, &info), 0);
    const auto biases = loadBiases(readProcMaps(static_cast<std::uint32_t>(getpid())));
    std::uint64_t bias = 0;
    bool found = false;
    for (const auto& [path, b] : biases) {
        if (path.find("libfixture_plain.so") != std::string::npos) {
            bias = b;
            found = true;
        }
    }
    ASSERT_TRUE(found);
    EXPECT_EQ(bias, reinterpret_cast<std::uint64_t>(info.dli_fbase));
    Symbolizer s;
    s.addModule(0, info.dli_fname, bias);
    EXPECT_EQ(s.lookup(reinterpret_cast<std::uint64_t>(fn)).name, "plain_twice");
    dlclose(h);
}

TEST(Symbolizer, SameFileUnderTwoNamesIsOneObject) {
    // /proc/PID/maps names the real file, the dynamic loader the SONAME link: one object, and
    // the probe's name (id != 0) wins.
    Symbolizer s;
    const std::string real = std::filesystem::canonical(LIBFFI_SO).string();
    bool changed = false;
    ModuleInfo& first = s.addModule(0, real, kBias, &changed);
    EXPECT_TRUE(changed);
    ModuleInfo& second = s.addModule(9, LIBFFI_SO, kBias, &changed);
    EXPECT_EQ(&first, &second);
    EXPECT_EQ(s.modules().size(), 1u);
    EXPECT_EQ(second.id, 9u);
    EXPECT_EQ(second.path, LIBFFI_SO);
    EXPECT_EQ(second.name, "libffi.so.8");
    EXPECT_EQ(real != LIBFFI_SO, changed);
    s.addModule(9, LIBFFI_SO, kBias, &changed);
    EXPECT_FALSE(changed);
    s.addModule(10, LIBFFI_SO, kBias + 0x100000000, &changed); // mapped again elsewhere: another object
    EXPECT_TRUE(changed);
    EXPECT_EQ(s.modules().size(), 2u);
}

TEST(Symbolizer, FindsPyObjectParametersInDwarf) {
    Symbolizer s;
    ModuleInfo& ext = s.addModule(1, FIXTURE_EXT, kBias);
    ModuleInfo& ffi = s.addModule(2, LIBFFI_SO, kBias + 0x100000000);
    EXPECT_EQ(s.usesPyObject(s.addressOf(ext, "fixture_method")), std::optional<bool>(true));
    EXPECT_EQ(s.usesPyObject(s.addressOf(ext, "PyInit_fixture_ext")), std::optional<bool>(true)); // returns PyObject*
    EXPECT_EQ(s.usesPyObject(s.addressOf(ext, "fixture_impl")), std::optional<bool>(false));
    EXPECT_EQ(s.usesPyObject(s.addressOf(ext, "fixture_convert")), std::optional<bool>(true)); // a PyObject* local
    EXPECT_EQ(s.usesPyObject(s.addressOf(ffi, "ffi_call")), std::nullopt); // stripped: no DWARF, no answer
}
