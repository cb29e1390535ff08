// Small /proc readers shared by the attach code (process_scan.cpp, ptrace_injector.cpp).
#pragma once

#include <layertrace/symbolizer.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace layertrace::tracer::attach {

struct ProcStatus {
    bool exists = false;
    char state = '?';
    std::uint32_t tracerPid = 0;
    std::uint32_t realUid = 0, effectiveUid = 0;
    std::string name;
};

ProcStatus readStatus(std::uint32_t pid);
std::string readSmallFile(const std::string& path);
bool readMemory(std::uint32_t pid, std::uint64_t address, void* out, std::size_t size);
// Runtime address of `symbol` exported by the object mapped from `path` in `maps`.
std::optional<std::uint64_t> symbolAddress(const std::vector<MappedFile>& maps, const std::string& path,
                                           const std::string& symbol);
// One line saying why ptrace is refused on `pid`: ptrace_scope, CAP_SYS_PTRACE, another user.
std::string permissionAdvice(std::uint32_t pid);

} // namespace layertrace::tracer::attach
