// Reads the facts the layer classifier needs from an object's ELF file with libelf: PyInit_*
// exports, Python C API imports, SONAME, interpreter and libffi markers, pybind11/cffi traces,
// and the extent of its loadable segments (for address → module lookups).
#pragma once

#include <layertrace/module_info.h>

#include <cstdint>
#include <string>

namespace layertrace::tracer {

struct ElfExtent {
    std::uint64_t minVaddr = 0; // lowest PT_LOAD p_vaddr (page-aligned down)
    std::uint64_t maxVaddr = 0; // highest PT_LOAD p_vaddr + p_memsz
    bool executableFile = false; // ET_EXEC: load bias is always 0
};

// Never throws: an unreadable or non-ELF file yields facts.readable == false.
ElfFacts inspectElf(const std::string& path, ElfExtent* extent = nullptr);

} // namespace layertrace::tracer
