// .dynsym lookup by reading the ELF file with plain <elf.h> structures (64-bit, native order).
#include "elf_symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace layertrace::tracer::attach {

namespace {

class MappedFile {
public:
    explicit MappedFile(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            return;
        }
        struct stat st {};
        if (::fstat(fd, &st) == 0 && st.st_size > 0) {
            void* p = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) {
                m_data = static_cast<const unsigned char*>(p);
                m_size = static_cast<std::size_t>(st.st_size);
            }
        }
        ::close(fd);
    }
    ~MappedFile() {
        if (m_data != nullptr) {
            ::munmap(const_cast<unsigned char*>(m_data), m_size);
        }
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    // Bounds-checked view of `count` objects of T at `offset`; nullptr when outside the file.
    template <class T>
    const T* at(std::uint64_t offset, std::uint64_t count = 1) const {
        if (m_data == nullptr || offset > m_size || count > (m_size - offset) / sizeof(T)) {
            return nullptr;
        }
        return reinterpret_cast<const T*>(m_data + offset);
    }
    std::size_t size() const { return m_size; }

private:
    const unsigned char* m_data = nullptr;
    std::size_t m_size = 0;
};

} // namespace

std::optional<DynamicSymbol> findDynamicSymbol(const std::string& path, const std::string& name) {
    MappedFile file(path);
    const auto* eh = file.at<Elf64_Ehdr>(0);
    if (eh == nullptr || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_phentsize != sizeof(Elf64_Phdr)) {
        return std::nullopt;
    }
    DynamicSymbol out;
    const auto* ph = file.at<Elf64_Phdr>(eh->e_phoff, eh->e_phnum);
    if (ph == nullptr) {
        return std::nullopt;
    }
    bool haveLoad = false;
    for (int i = 0; i < eh->e_phnum; ++i) {
        if (ph[i].p_type == PT_LOAD && (!haveLoad || ph[i].p_vaddr < out.firstLoadVaddr)) {
            out.firstLoadVaddr = ph[i].p_vaddr & ~std::uint64_t{0xfff};
            haveLoad = true;
        }
    }
    const auto* sh = file.at<Elf64_Shdr>(eh->e_shoff, eh->e_shnum);
    if (sh == nullptr) {
        return std::nullopt;
    }
    const Elf64_Shdr* dynsym = nullptr;
    const Elf64_Shdr* versym = nullptr;
    for (int i = 0; i < eh->e_shnum; ++i) {
        if (sh[i].sh_type == SHT_DYNSYM) {
            dynsym = &sh[i];
        } else if (sh[i].sh_type == SHT_GNU_versym) {
            versym = &sh[i];
        }
    }
    if (dynsym == nullptr || dynsym->sh_link >= eh->e_shnum || dynsym->sh_entsize != sizeof(Elf64_Sym)) {
        return std::nullopt;
    }
    const Elf64_Shdr& strtab = sh[dynsym->sh_link];
    const std::uint64_t count = dynsym->sh_size / sizeof(Elf64_Sym);
    const auto* syms = file.at<Elf64_Sym>(dynsym->sh_offset, count);
    const auto* versions = versym != nullptr ? file.at<Elf64_Half>(versym->sh_offset, count) : nullptr;
    const char* strings = file.at<char>(strtab.sh_offset, strtab.sh_size);
    if (syms == nullptr || strings == nullptr) {
        return std::nullopt;
    }
    std::optional<DynamicSymbol> hidden; // a compat (non-default) version, used only if alone
    for (std::uint64_t i = 0; i < count; ++i) {
        const Elf64_Sym& s = syms[i];
        if (s.st_shndx == SHN_UNDEF || s.st_name >= strtab.sh_size || s.st_value == 0) {
            continue;
        }
        const char* n = strings + s.st_name;
        if (std::strncmp(n, name.c_str(), strtab.sh_size - s.st_name) != 0 || std::strlen(n) != name.size()) {
            continue;
        }
        DynamicSymbol found = out;
        found.value = s.st_value;
        if (versions != nullptr && (versions[i] & 0x8000) != 0) {
            hidden = found;
            continue;
        }
        return found;
    }
    return hidden;
}

} // namespace layertrace::tracer::attach
