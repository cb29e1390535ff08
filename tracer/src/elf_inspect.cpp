// ELF facts for the classifier (see elf_inspect.h). Reads .dynsym and .symtab once per file.
#include <layertrace/elf_inspect.h>

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstring>
#include <string_view>

namespace layertrace::tracer {

namespace {

bool startsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

void noteSymbol(ElfFacts& f, std::string_view name, bool defined, bool& hasPyInitialize, bool& hasEvalFrame) {
    if (name.empty()) {
        return;
    }
    if (!defined) {
        // Any C API use: Py*, _Py* (the ABI's private but exported helpers).
        if (startsWith(name, "Py") || startsWith(name, "_Py")) {
            f.importsPython = true;
        }
        return;
    }
    if (startsWith(name, "PyInit_")) {
        f.exportsPyInit = true;
        if (f.pyInitName.empty()) {
            f.pyInitName = std::string(name);
        }
    } else if (name == "Py_Initialize") {
        hasPyInitialize = true;
    } else if (name == "_PyEval_EvalFrameDefault") {
        hasEvalFrame = true;
    } else if (name == "ffi_call" || name == "cffistatic_ffi_call" || name == "ffi_call_go") {
        f.bundlesFfi = true;
    } else if (startsWith(name, "_cffi_f_") || startsWith(name, "_cffi_d_") || name == "_cffi_types" ||
               startsWith(name, "_cffi_type_context")) {
        f.cffiGenerated = true;
    }
    // Itanium-mangled pybind11 names contain "pybind11" verbatim (e.g. _ZN8pybind1112cpp_function...).
    if (name.find("pybind11") != std::string_view::npos) {
        f.pybind11 = true;
    }
}

} // namespace

ElfFacts inspectElf(const std::string& path, ElfExtent* extent) {
    ElfFacts facts;
    if (elf_version(EV_CURRENT) == EV_NONE) {
        return facts;
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return facts;
    }
    Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) {
        if (elf != nullptr) {
            elf_end(elf);
        }
        ::close(fd);
        return facts;
    }
    facts.readable = true;

    GElf_Ehdr ehdr;
    if (gelf_getehdr(elf, &ehdr) != nullptr && extent != nullptr) {
        extent->executableFile = ehdr.e_type == ET_EXEC;
        std::size_t phnum = 0;
        elf_getphdrnum(elf, &phnum);
        bool first = true;
        for (std::size_t i = 0; i < phnum; ++i) {
            GElf_Phdr ph;
            if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) {
                continue;
            }
            const std::uint64_t lo = ph.p_vaddr & ~std::uint64_t(0xfff);
            const std::uint64_t hi = ph.p_vaddr + ph.p_memsz;
            if (first || lo < extent->minVaddr) {
                extent->minVaddr = lo;
            }
            if (first || hi > extent->maxVaddr) {
                extent->maxVaddr = hi;
            }
            first = false;
        }
    }

    std::size_t shstrndx = 0;
    elf_getshdrstrndx(elf, &shstrndx);
    bool hasPyInitialize = false;
    bool hasEvalFrame = false;
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr) {
            continue;
        }
        const char* secName = elf_strptr(elf, shstrndx, sh.sh_name);
        if (secName != nullptr && std::strcmp(secName, ".debug_info") == 0) {
            facts.hasDebugInfo = true;
        }
        if (sh.sh_type == SHT_SYMTAB) {
            facts.hasSymtab = true;
        }
        if (sh.sh_type == SHT_DYNAMIC) {
            Elf_Data* data = elf_getdata(scn, nullptr);
            const std::size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
            for (std::size_t i = 0; data != nullptr && i < n; ++i) {
                GElf_Dyn dyn;
                if (gelf_getdyn(data, static_cast<int>(i), &dyn) != nullptr && dyn.d_tag == DT_SONAME) {
                    if (const char* s = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val)) {
                        facts.soname = s;
                    }
                }
            }
        }
        if (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) {
            continue;
        }
        Elf_Data* data = elf_getdata(scn, nullptr);
        const std::size_t n = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
        for (std::size_t i = 0; data != nullptr && i < n; ++i) {
            GElf_Sym sym;
            if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) {
                continue;
            }
            const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
            if (name == nullptr) {
                continue;
            }
            const int type = GELF_ST_TYPE(sym.st_info);
            if (type == STT_SECTION || type == STT_FILE) {
                continue;
            }
            noteSymbol(facts, name, sym.st_shndx != SHN_UNDEF, hasPyInitialize, hasEvalFrame);
        }
    }
    facts.isInterpreter = hasPyInitialize && hasEvalFrame;
    facts.isLibffi = startsWith(facts.soname, "libffi") || (facts.bundlesFfi && !facts.importsPython &&
                                                          !facts.exportsPyInit && !facts.isInterpreter);
    elf_end(elf);
    ::close(fd);
    return facts;
}

} // namespace layertrace::tracer
