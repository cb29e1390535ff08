// Module map and symbolization: which object an address belongs to (from ModuleMap records, with
// /proc/PID/maps as a cross-check) and what it is called there, via elfutils libdwfl offline:
// every module reported at its load bias, names from dwfl_module_addrinfo (C++ demangled),
// file:line from DWARF where present, module+offset otherwise. Results are cached per address.
#pragma once

#include <layertrace/module_info.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

// libdwfl handles, declared here so front ends need no elfutils headers.
struct Dwfl;
struct Dwfl_Module;

namespace layertrace::tracer {

struct Symbol {
    const ModuleInfo* module = nullptr; // nullptr: address in no known object
    std::string name;                   // demangled; empty when no symbol covers it
    std::uint64_t symbolOffset = 0;     // address - symbol start
    std::uint64_t moduleOffset = 0;     // address - load bias
    std::string file;                   // source file (DWARF) or empty
    int line = 0;

    // "transform_record", or "libfoo.so+0x1234" when there is no symbol.
    std::string display() const;
};

// One line of /proc/PID/maps that maps a file.
struct MappedFile {
    std::uint64_t start = 0, end = 0, offset = 0;
    std::string path;
};
std::vector<MappedFile> readProcMaps(std::uint32_t pid);
// Load bias of each file in a maps listing (start of its offset-0 mapping minus its first PT_LOAD vaddr).
std::map<std::string, std::uint64_t> loadBiases(const std::vector<MappedFile>& maps);

std::string demangle(const std::string& name);

class Symbolizer {
public:
    Symbolizer();
    ~Symbolizer();
    Symbolizer(const Symbolizer&) = delete;
    Symbolizer& operator=(const Symbolizer&) = delete;

    // Registers an object at its load bias; returns the stored info (ELF facts filled in, role
    // left for the classifier). `id` 0 means "not from the probe" (e.g. /proc/PID/maps). The same
    // file at the same bias under another name (/proc shows /usr/lib/.../libffi.so.8.1.2, the
    // loader /lib/.../libffi.so.8) is one object: the probe's name wins. *changed (optional) is
    // set when the object is new or its name changed.
    ModuleInfo& addModule(std::uint32_t id, const std::string& path, std::uint64_t base, bool* changed = nullptr);
    void removeModule(std::uint32_t id);
    ModuleInfo* moduleById(std::uint32_t id);
    const ModuleInfo* moduleAt(std::uint64_t address) const;
    ModuleInfo* moduleByPath(const std::string& path);
    std::vector<const ModuleInfo*> modules() const;

    // Cached per address (bounded by the distinct addresses looked up). The reference stays
    // valid until the next addModule/removeModule.
    const Symbol& lookup(std::uint64_t address);
    std::size_t cachedAddresses() const { return m_cache.size(); }
    // Whether the function at `address` takes, returns or holds in a local variable a PyObject*
    // (struct _object), per its DWARF: such code handles Python objects (methods, slots,
    // converters such as rosidl's convert_from_py, which takes void* and casts). nullopt
    // without DWARF.
    std::optional<bool> usesPyObject(std::uint64_t address);
    // Start address of `name` inside the module (for tests and --probe checks); 0 if absent.
    std::uint64_t addressOf(const ModuleInfo& module, const std::string& name);

private:
    struct Entry {
        std::unique_ptr<ModuleInfo> info;
        std::uint64_t start = 0, end = 0;
        ::Dwfl_Module* dwflModule = nullptr;
        bool unmapped = false; // a ModuleUnmap came: it names no address until mapped there again
    };
    const Entry* entryAt(std::uint64_t address) const;
    ::Dwfl_Module* reportToDwfl(Entry& e);

    ::Dwfl* m_dwfl = nullptr;
    std::vector<Entry> m_entries;                 // few dozen: linear scans are fine
    std::unordered_map<std::uint64_t, Symbol> m_cache;
    std::unordered_map<std::uint64_t, std::optional<bool>> m_pyObjectCache;
};

} // namespace layertrace::tracer
