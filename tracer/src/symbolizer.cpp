// libdwfl-based module map and symbolizer (see symbolizer.h).
#include <layertrace/symbolizer.h>

#include <layertrace/elf_inspect.h>

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace layertrace::tracer {

namespace {

const Dwfl_Callbacks kOfflineCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = nullptr,
};

std::string hex(std::uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

} // namespace

std::string demangle(const std::string& name) {
    if (name.size() < 2 || name[0] != '_' || name[1] != 'Z') {
        return name;
    }
    int status = 0;
    char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
    if (status != 0 || out == nullptr) {
        std::free(out);
        return name;
    }
    std::string result(out);
    std::free(out);
    return result;
}

std::string Symbol::display() const {
    if (!name.empty()) {
        return name;
    }
    if (module != nullptr) {
        return module->name + "+" + hex(moduleOffset);
    }
    return "?";
}

std::vector<MappedFile> readProcMaps(std::uint32_t pid) {
    std::vector<MappedFile> out;
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(in, line)) {
        unsigned long long start = 0, end = 0, offset = 0;
        char perms[8] = {};
        int pathAt = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &offset, &pathAt) < 4 ||
            pathAt <= 0 || static_cast<std::size_t>(pathAt) >= line.size() || line[static_cast<std::size_t>(pathAt)] != '/') {
            continue;
        }
        out.push_back({start, end, offset, line.substr(static_cast<std::size_t>(pathAt))});
    }
    return out;
}

std::map<std::string, std::uint64_t> loadBiases(const std::vector<MappedFile>& maps) {
    std::map<std::string, std::uint64_t> out;
    for (const auto& m : maps) {
        if (m.offset != 0 || out.count(m.path) != 0) {
            continue;
        }
        ElfExtent extent;
        const ElfFacts facts = inspectElf(m.path, &extent);
        if (!facts.readable) {
            continue;
        }
        out[m.path] = extent.executableFile ? 0 : m.start - extent.minVaddr;
    }
    return out;
}

Symbolizer::Symbolizer() {
    m_dwfl = dwfl_begin(&kOfflineCallbacks);
}

Symbolizer::~Symbolizer() {
    if (m_dwfl != nullptr) {
        dwfl_end(m_dwfl);
    }
}

Dwfl_Module* Symbolizer::reportToDwfl(Entry& e) {
    if (m_dwfl == nullptr || !e.info->elf.readable) {
        return nullptr;
    }
    dwfl_report_begin_add(m_dwfl);
    // The base we pass is the load bias (dlpi_addr), so add_p_vaddr is false.
    Dwfl_Module* mod = dwfl_report_elf(m_dwfl, e.info->name.c_str(), e.info->path.c_str(), -1,
                                       e.info->base, false);
    dwfl_report_end(m_dwfl, nullptr, nullptr);
    return mod;
}

namespace {
std::string realPath(const std::string& p) {
    char* r = ::realpath(p.c_str(), nullptr);
    if (r == nullptr) {
        return p;
    }
    std::string out(r);
    std::free(r);
    return out;
}
} // namespace

ModuleInfo& Symbolizer::addModule(std::uint32_t id, const std::string& path, std::uint64_t base, bool* changed) {
    if (changed != nullptr) {
        *changed = true;
    }
    const std::string real = realPath(path);
    for (auto& e : m_entries) {
        if (e.info->base != base || (e.info->path != path && realPath(e.info->path) != real)) {
            continue;
        }
        bool renamed = false;
        if (e.unmapped) {
            e.unmapped = false; // mapped again at the same place
            m_cache.clear();    // lookups made while it was unmapped found nothing there
        }
        if (id != 0) {
            e.info->id = id;
            if (e.info->path != path) {
                e.info->path = path;
                const auto slash = path.rfind('/');
                e.info->name = slash == std::string::npos ? path : path.substr(slash + 1);
                renamed = true;
            }
        }
        if (changed != nullptr) {
            *changed = renamed;
        }
        return *e.info;
    }
    Entry e;
    e.info = std::make_unique<ModuleInfo>();
    e.info->id = id;
    e.info->path = path;
    e.info->base = base;
    const auto slash = path.rfind('/');
    e.info->name = slash == std::string::npos ? path : path.substr(slash + 1);
    ElfExtent extent;
    e.info->elf = inspectElf(path, &extent);
    e.start = base + extent.minVaddr;
    e.end = base + extent.maxVaddr;
    e.dwflModule = reportToDwfl(e);
    m_entries.push_back(std::move(e));
    m_cache.clear(); // an address may now resolve into the new object
    return *m_entries.back().info;
}

void Symbolizer::removeModule(std::uint32_t id) {
    // Keep the entry (recorded events may still refer to it by id, and the same object may be
    // mapped again at the same place: addModule revives it) but stop matching addresses to it.
    // The probe sends a ModuleUnmap only after every event recorded before the dlclose
    // (docs/probe.md, "Ordering"), so no later event needs its addresses.
    for (auto& e : m_entries) {
        if (e.info->id == id) {
            e.unmapped = true;
        }
    }
    m_cache.clear();
}

const Symbolizer::Entry* Symbolizer::entryAt(std::uint64_t address) const {
    for (const auto& e : m_entries) {
        if (!e.unmapped && address >= e.start && address < e.end) {
            return &e;
        }
    }
    return nullptr;
}

ModuleInfo* Symbolizer::moduleById(std::uint32_t id) {
    for (auto& e : m_entries) {
        if (e.info->id == id) {
            return e.info.get();
        }
    }
    return nullptr;
}

ModuleInfo* Symbolizer::moduleByPath(const std::string& path) {
    for (auto& e : m_entries) {
        if (e.info->path == path) {
            return e.info.get();
        }
    }
    return nullptr;
}

const ModuleInfo* Symbolizer::moduleAt(std::uint64_t address) const {
    const Entry* entry = entryAt(address);
    return entry != nullptr ? entry->info.get() : nullptr;
}

std::vector<const ModuleInfo*> Symbolizer::modules() const {
    std::vector<const ModuleInfo*> out;
    for (const auto& e : m_entries) {
        out.push_back(e.info.get());
    }
    return out;
}

const Symbol& Symbolizer::lookup(std::uint64_t address) {
    if (auto it = m_cache.find(address); it != m_cache.end()) {
        return it->second;
    }
    Symbol s;
    const Entry* entry = entryAt(address);
    if (entry != nullptr) {
        s.module = entry->info.get();
        s.moduleOffset = address - entry->info->base;
        if (Dwfl_Module* mod = entry->dwflModule) {
            GElf_Off off = 0;
            GElf_Sym sym;
            const char* name = dwfl_module_addrinfo(mod, address, &off, &sym, nullptr, nullptr, nullptr);
            if (name != nullptr) {
                s.name = demangle(name);
                s.symbolOffset = off;
            }
            if (Dwfl_Line* line = dwfl_module_getsrc(mod, address)) {
                int lineNo = 0;
                if (const char* file = dwfl_lineinfo(line, nullptr, &lineNo, nullptr, nullptr, nullptr)) {
                    s.file = file;
                    s.line = lineNo;
                }
            }
        }
    }
    return m_cache.emplace(address, std::move(s)).first->second;
}

namespace {

// Follows typedefs, qualifiers and pointers from a DIE's type to what it names; true when that is
// `struct _object` (PyObject) or a typedef of it seen along the way.
bool isPyObjectType(Dwarf_Die* die) {
    Dwarf_Die cur = *die;
    for (int hops = 0; hops < 16; ++hops) {
        Dwarf_Attribute attr;
        Dwarf_Die type;
        if (dwarf_attr_integrate(&cur, DW_AT_type, &attr) == nullptr || dwarf_formref_die(&attr, &type) == nullptr) {
            return false;
        }
        const int tag = dwarf_tag(&type);
        const char* name = dwarf_diename(&type);
        if (name != nullptr && (std::strcmp(name, "_object") == 0 || std::strcmp(name, "PyObject") == 0)) {
            return tag == DW_TAG_structure_type || tag == DW_TAG_typedef;
        }
        if (tag != DW_TAG_pointer_type && tag != DW_TAG_typedef && tag != DW_TAG_const_type &&
            tag != DW_TAG_volatile_type && tag != DW_TAG_restrict_type && tag != DW_TAG_reference_type) {
            return false;
        }
        cur = type;
    }
    return false;
}

// A parameter or local variable of PyObject* type directly in `scope` or its lexical blocks (not
// in inlined callees: their locals belong to other functions).
bool declaresPyObject(Dwarf_Die* scope, int depth) {
    Dwarf_Die child;
    if (depth > 8 || dwarf_child(scope, &child) != 0) {
        return false;
    }
    do {
        const int tag = dwarf_tag(&child);
        if ((tag == DW_TAG_formal_parameter || tag == DW_TAG_variable) && isPyObjectType(&child)) {
            return true;
        }
        if (tag == DW_TAG_lexical_block && declaresPyObject(&child, depth + 1)) {
            return true;
        }
    } while (dwarf_siblingof(&child, &child) == 0);
    return false;
}

} // namespace

std::optional<bool> Symbolizer::usesPyObject(std::uint64_t address) {
    if (auto it = m_pyObjectCache.find(address); it != m_pyObjectCache.end()) {
        return it->second;
    }
    std::optional<bool> result;
    const Entry* entry = entryAt(address);
    Dwarf_Addr bias = 0;
    Dwarf_Die* cu = entry != nullptr && entry->dwflModule != nullptr
                        ? dwfl_module_addrdie(entry->dwflModule, address, &bias)
                        : nullptr;
    if (cu != nullptr) {
        Dwarf_Die* scopes = nullptr;
        const int n = dwarf_getscopes(cu, address - bias, &scopes);
        for (int i = 0; i < n; ++i) {
            if (dwarf_tag(&scopes[i]) != DW_TAG_subprogram) {
                continue;
            }
            Dwarf_Die fn = scopes[i];
            result = isPyObjectType(&fn) || declaresPyObject(&fn, 0); // return type, then params/locals
            break;
        }
        std::free(scopes);
    }
    m_pyObjectCache.emplace(address, result);
    return result;
}

std::uint64_t Symbolizer::addressOf(const ModuleInfo& module, const std::string& name) {
    for (auto& e : m_entries) {
        if (e.info.get() != &module || e.dwflModule == nullptr) {
            continue;
        }
        const int n = dwfl_module_getsymtab(e.dwflModule);
        for (int i = 0; i < n; ++i) {
            GElf_Sym sym;
            GElf_Addr addr = 0;
            const char* symName = dwfl_module_getsym_info(e.dwflModule, i, &sym, &addr, nullptr, nullptr, nullptr);
            if (symName != nullptr && sym.st_shndx != SHN_UNDEF && GELF_ST_TYPE(sym.st_info) == STT_FUNC &&
                (name == symName || name == demangle(symName))) {
                return addr;
            }
        }
    }
    return 0;
}

} // namespace layertrace::tracer
