// Reading loaded ELF objects through their PT_DYNAMIC (symbols, relocations, RELRO) without
// libelf: shared by GOT patching (hook engine) and the hook policy (probes/src/native).
#pragma once

#include <elf.h>
#include <link.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace layertrace::probe::hook {

// One loaded object as seen by dl_iterate_phdr, with its dynamic tables located in memory.
struct LoadedObject {
    std::string path;        // dlpi_name, or /proc/self/exe's target for the main program
    std::uintptr_t base = 0; // dlpi_addr (load bias)
    std::uintptr_t lo = 0;   // lowest mapped address of its PT_LOAD segments
    std::uintptr_t hi = 0;   // one past the highest
    std::uintptr_t relroLo = 0, relroHi = 0;
    const ElfW(Sym)* symtab = nullptr; // .dynsym
    const char* strtab = nullptr;
    std::size_t symCount = 0;  // from DT_GNU_HASH/DT_HASH; 0 if unknown
    const ElfW(Versym)* versym = nullptr;
    const ElfW(Rela)* jmprel = nullptr;
    std::size_t jmprelCount = 0;
    const ElfW(Rela)* rela = nullptr;
    std::size_t relaCount = 0;
    bool isMain = false;
    bool isLoader = false; // the dynamic loader
    bool isVdso = false;

    bool contains(std::uintptr_t address) const { return address >= lo && address < hi; }
};

// A snapshot of every loaded object. Takes the loader lock (dl_iterate_phdr): never call from a
// hook's hot path or a signal handler.
std::vector<LoadedObject> loadedObjects();

// The object containing `address` in `objects`, or nullptr.
const LoadedObject* objectContaining(const std::vector<LoadedObject>& objects, std::uintptr_t address);

// Defined function symbols (FUNC or IFUNC, st_shndx != SHN_UNDEF) of the object's .dynsym.
struct DefinedSymbol {
    std::string_view name;
    std::uintptr_t address; // absolute
    std::size_t size;
    bool ifunc;
    bool defaultVersion; // not a hidden (non-default) version
};
std::vector<DefinedSymbol> definedFunctions(const LoadedObject& object);

// Imports of an object: every JUMP_SLOT / GLOB_DAT slot with its symbol name.
struct ImportSlot {
    std::string_view symbol;
    std::uintptr_t slot; // absolute address of the GOT slot
    bool functionType;   // the undefined symbol is typed FUNC (or NOTYPE for old toolchains)
};
std::vector<ImportSlot> importSlots(const LoadedObject& object);

// The real address of `symbol`: the first object in load order (skipping `exclude`) that defines
// it in its .dynsym (a non-PIE executable's canonical PLT entry is SHN_UNDEF and thus skipped),
// preferring the default version. IFUNCs are resolved by calling their resolver. Returns 0 and
// leaves *definer untouched when nothing defines it.
std::uintptr_t resolveDefinition(const std::vector<LoadedObject>& objects, std::string_view symbol,
                                 const LoadedObject* exclude, const LoadedObject** definer);

// True for the object that contains the probe itself (this code).
bool isProbeObject(const LoadedObject& object);

// Functions from the on-disk .symtab of an unstripped object (read with <elf.h> and mmap);
// addresses are made absolute with `base` for ET_DYN. Empty when there is no .symtab.
std::vector<std::pair<std::string, std::uintptr_t>> symtabFunctions(const std::string& path, std::uintptr_t base,
                                                                     std::string* error);

} // namespace layertrace::probe::hook
