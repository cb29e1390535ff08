// Looks up exported (.dynsym) symbols in an ELF file on disk, for addresses in another process:
// dlopen in the target's libc, the probe's attach entry, the interpreter's Py_Version.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace layertrace::tracer::attach {

// st_value of the defined dynamic symbol `name` (the default version when several exist), and
// the lowest PT_LOAD p_vaddr rounded down to a page, so address = (mapping start of offset 0) -
// firstLoadVaddr + value. nullopt when the file is unreadable, not ELF or lacks the symbol.
struct DynamicSymbol {
    std::uint64_t value = 0;
    std::uint64_t firstLoadVaddr = 0;
};
std::optional<DynamicSymbol> findDynamicSymbol(const std::string& path, const std::string& name);

} // namespace layertrace::tracer::attach
