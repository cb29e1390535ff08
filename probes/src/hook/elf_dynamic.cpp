// Walks loaded objects' dynamic sections (dl_iterate_phdr + PT_DYNAMIC) and reads .symtab from
// disk; the ELF knowledge both the GOT patcher and the hook policy rely on.
#include "elf_dynamic.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstring>

namespace layertrace::probe::hook {
namespace {

// glibc relocates most d_ptr entries in place; the vdso's (and a few odd objects') are not.
std::uintptr_t dynPtr(std::uintptr_t value, std::uintptr_t base) {
    return value < base ? value + base : value;
}

// Number of .dynsym entries from DT_GNU_HASH: one past the highest symbol in any chain.
std::size_t gnuHashSymbolCount(const std::uint32_t* table) {
    const std::uint32_t nbuckets = table[0];
    const std::uint32_t symoffset = table[1];
    const std::uint32_t bloomSize = table[2];
    const auto* buckets = reinterpret_cast<const std::uint32_t*>(
        reinterpret_cast<const std::uint8_t*>(table + 4) + bloomSize * sizeof(ElfW(Addr)));
    const std::uint32_t* chains = buckets + nbuckets;
    std::uint32_t last = 0;
    for (std::uint32_t i = 0; i < nbuckets; ++i) last = buckets[i] > last ? buckets[i] : last;
    if (last < symoffset) return symoffset;
    while ((chains[last - symoffset] & 1u) == 0) ++last;
    return last + 1;
}

std::string mainProgramPath() {
    char buf[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

int collect(dl_phdr_info* info, std::size_t, void* data) {
    auto* out = static_cast<std::vector<LoadedObject>*>(data);
    LoadedObject object;
    object.base = info->dlpi_addr;
    const char* name = info->dlpi_name ? info->dlpi_name : "";
    object.lo = UINTPTR_MAX;
    const ElfW(Dyn)* dynamic = nullptr;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD) {
            const std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
            object.lo = lo < object.lo ? lo : object.lo;
            const std::uintptr_t hi = lo + ph.p_memsz;
            object.hi = hi > object.hi ? hi : object.hi;
        } else if (ph.p_type == PT_DYNAMIC) {
            dynamic = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + ph.p_vaddr);
        } else if (ph.p_type == PT_GNU_RELRO) {
            object.relroLo = info->dlpi_addr + ph.p_vaddr;
            object.relroHi = object.relroLo + ph.p_memsz;
        }
    }
    if (object.lo == UINTPTR_MAX) return 0;
    object.isMain = out->empty(); // dl_iterate_phdr reports the program first
    object.isVdso = std::strncmp(name, "linux-vdso", 10) == 0 || std::strncmp(name, "linux-gate", 10) == 0;
    object.path = name[0] != '\0' ? std::string(name) : (object.isMain ? mainProgramPath() : std::string());
    if (object.path.empty() && !object.isMain) object.isVdso = true; // unnamed, not the program: vdso
    object.isLoader = object.path.find("/ld-linux") != std::string::npos ||
                      object.path.find("/ld64.so") != std::string::npos;

    if (dynamic != nullptr && !object.isVdso) {
        std::uintptr_t jmprel = 0, pltrelsz = 0, rela = 0, relasz = 0;
        std::uintptr_t hash = 0, gnuHash = 0;
        long pltrel = DT_RELA;
        for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; ++d) {
            switch (d->d_tag) {
            case DT_SYMTAB: object.symtab = reinterpret_cast<const ElfW(Sym)*>(dynPtr(d->d_un.d_ptr, object.base)); break;
            case DT_STRTAB: object.strtab = reinterpret_cast<const char*>(dynPtr(d->d_un.d_ptr, object.base)); break;
            case DT_VERSYM: object.versym = reinterpret_cast<const ElfW(Versym)*>(dynPtr(d->d_un.d_ptr, object.base)); break;
            case DT_JMPREL: jmprel = dynPtr(d->d_un.d_ptr, object.base); break;
            case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
            case DT_PLTREL: pltrel = static_cast<long>(d->d_un.d_val); break;
            case DT_RELA: rela = dynPtr(d->d_un.d_ptr, object.base); break;
            case DT_RELASZ: relasz = d->d_un.d_val; break;
            case DT_HASH: hash = dynPtr(d->d_un.d_ptr, object.base); break;
            case DT_GNU_HASH: gnuHash = dynPtr(d->d_un.d_ptr, object.base); break;
            default: break;
            }
        }
        // x86-64 uses RELA only; a DT_PLTREL of DT_REL would mean a foreign ABI: leave it alone.
        if (jmprel != 0 && pltrel == DT_RELA) {
            object.jmprel = reinterpret_cast<const ElfW(Rela)*>(jmprel);
            object.jmprelCount = pltrelsz / sizeof(ElfW(Rela));
        }
        if (rela != 0) {
            object.rela = reinterpret_cast<const ElfW(Rela)*>(rela);
            object.relaCount = relasz / sizeof(ElfW(Rela));
        }
        if (hash != 0) object.symCount = reinterpret_cast<const std::uint32_t*>(hash)[1];
        else if (gnuHash != 0) object.symCount = gnuHashSymbolCount(reinterpret_cast<const std::uint32_t*>(gnuHash));
    }
    out->push_back(std::move(object));
    return 0;
}

} // namespace

std::vector<LoadedObject> loadedObjects() {
    std::vector<LoadedObject> objects;
    dl_iterate_phdr(collect, &objects);
    return objects;
}

const LoadedObject* objectContaining(const std::vector<LoadedObject>& objects, std::uintptr_t address) {
    for (const LoadedObject& o : objects)
        if (o.contains(address)) return &o;
    return nullptr;
}

std::vector<DefinedSymbol> definedFunctions(const LoadedObject& object) {
    std::vector<DefinedSymbol> out;
    if (object.symtab == nullptr || object.strtab == nullptr) return out;
    for (std::size_t i = 1; i < object.symCount; ++i) {
        const ElfW(Sym)& s = object.symtab[i];
        const unsigned type = ELF64_ST_TYPE(s.st_info);
        if (s.st_shndx == SHN_UNDEF || s.st_value == 0) continue;
        if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
        const unsigned bind = ELF64_ST_BIND(s.st_info);
        if (bind != STB_GLOBAL && bind != STB_WEAK) continue;
        const bool hidden = object.versym != nullptr && (object.versym[i] & 0x8000) != 0;
        out.push_back({std::string_view(object.strtab + s.st_name), object.base + s.st_value, s.st_size,
                       type == STT_GNU_IFUNC, !hidden});
    }
    return out;
}

std::vector<ImportSlot> importSlots(const LoadedObject& object) {
    std::vector<ImportSlot> out;
    if (object.symtab == nullptr || object.strtab == nullptr) return out;
    auto scan = [&](const ElfW(Rela)* rels, std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) {
            const auto type = ELF64_R_TYPE(rels[i].r_info);
            if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
            const auto index = ELF64_R_SYM(rels[i].r_info);
            if (index == 0) continue;
            const ElfW(Sym)& s = object.symtab[index];
            const unsigned symType = ELF64_ST_TYPE(s.st_info);
            out.push_back({std::string_view(object.strtab + s.st_name), object.base + rels[i].r_offset,
                           symType == STT_FUNC || symType == STT_GNU_IFUNC || symType == STT_NOTYPE});
        }
    };
    scan(object.jmprel, object.jmprelCount);
    scan(object.rela, object.relaCount);
    return out;
}

std::uintptr_t resolveDefinition(const std::vector<LoadedObject>& objects, std::string_view symbol,
                                 const LoadedObject* exclude, const LoadedObject** definer) {
    for (const LoadedObject& o : objects) {
        // By identity of the mapping, not the pointer: `exclude` may come from another snapshot.
        if (o.isVdso || (exclude != nullptr && o.lo == exclude->lo && o.path == exclude->path)) continue;
        std::uintptr_t fallback = 0;
        bool fallbackIfunc = false;
        for (const DefinedSymbol& s : definedFunctions(o)) {
            if (s.name != symbol) continue;
            if (s.defaultVersion) {
                fallback = s.address;
                fallbackIfunc = s.ifunc;
                break;
            }
            if (fallback == 0) {
                fallback = s.address;
                fallbackIfunc = s.ifunc;
            }
        }
        if (fallback == 0) continue;
        if (definer != nullptr) *definer = &o;
        if (fallbackIfunc) {
            // IFUNC resolvers of glibc and friends take no arguments we must supply on x86-64
            // (they read the CPU features themselves); call it as the loader would.
            using Resolver = std::uintptr_t (*)();
            return reinterpret_cast<Resolver>(fallback)();
        }
        return fallback;
    }
    return 0;
}

bool isProbeObject(const LoadedObject& object) {
    return object.contains(reinterpret_cast<std::uintptr_t>(&isProbeObject));
}

std::vector<std::pair<std::string, std::uintptr_t>> symtabFunctions(const std::string& path, std::uintptr_t base,
                                                                     std::string* error) {
    std::vector<std::pair<std::string, std::uintptr_t>> out;
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (error) *error = "cannot open " + path + ": " + std::strerror(errno);
        return out;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || static_cast<std::size_t>(st.st_size) < sizeof(ElfW(Ehdr))) {
        close(fd);
        if (error) *error = path + ": not an ELF file";
        return out;
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        if (error) *error = "cannot map " + path;
        return out;
    }
    const auto* bytes = static_cast<const std::uint8_t*>(map);
    const auto* eh = reinterpret_cast<const ElfW(Ehdr)*>(bytes);
    auto inFile = [&](std::size_t off, std::size_t len) { return off <= size && len <= size - off; };
    if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        !inFile(eh->e_shoff, std::size_t{eh->e_shnum} * sizeof(ElfW(Shdr)))) {
        munmap(map, size);
        if (error) *error = path + ": not a 64-bit ELF file with section headers";
        return out;
    }
    const std::uintptr_t bias = eh->e_type == ET_DYN ? base : 0;
    const auto* sh = reinterpret_cast<const ElfW(Shdr)*>(bytes + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum; ++i) {
        if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
        const ElfW(Shdr)& strs = sh[sh[i].sh_link];
        if (!inFile(sh[i].sh_offset, sh[i].sh_size) || !inFile(strs.sh_offset, strs.sh_size)) break;
        const auto* syms = reinterpret_cast<const ElfW(Sym)*>(bytes + sh[i].sh_offset);
        const std::size_t count = sh[i].sh_size / sizeof(ElfW(Sym));
        const char* names = reinterpret_cast<const char*>(bytes + strs.sh_offset);
        for (std::size_t k = 1; k < count; ++k) {
            if (ELF64_ST_TYPE(syms[k].st_info) != STT_FUNC || syms[k].st_shndx == SHN_UNDEF || syms[k].st_value == 0)
                continue;
            if (syms[k].st_name >= strs.sh_size) continue;
            out.emplace_back(std::string(names + syms[k].st_name), bias + syms[k].st_value);
        }
        break;
    }
    munmap(map, size);
    return out;
}

} // namespace layertrace::probe::hook
