// A minimal DWARF CFI reader for x86-64 .eh_frame: the binary-search table of .eh_frame_hdr to
// the FDE, its CIE, and the CFA program run up to the pc, tracking only what a frame-by-frame
// walk needs (CFA from rsp or rbp, where rbp and the return address were saved). Whatever does
// not fit that shape is reported Complex and left to libunwind.
#include "unwind_rules.h"

#include <dlfcn.h>
#include <link.h>

#include <cstring>

namespace layertrace::probe::stack {
namespace {

constexpr unsigned kRegRbp = 6;
constexpr unsigned kRegRsp = 7;
constexpr unsigned kRegReturnAddress = 16;

// DW_EH_PE_* pointer encodings.
constexpr std::uint8_t kPeOmit = 0xff;
constexpr std::uint8_t kPeFormatMask = 0x0f;
constexpr std::uint8_t kPeApplicationMask = 0x70;
constexpr std::uint8_t kPeIndirect = 0x80;

// Bounded little-endian reader; every read past `end` marks the reader failed.
struct Reader {
    const std::uint8_t* p;
    const std::uint8_t* end;
    bool failed = false;

    template <typename T> T fixed() {
        T value{};
        if (end - p < static_cast<std::ptrdiff_t>(sizeof(T))) {
            failed = true;
            return value;
        }
        std::memcpy(&value, p, sizeof(T));
        p += sizeof(T);
        return value;
    }
    std::uint64_t uleb() {
        std::uint64_t value = 0;
        for (unsigned shift = 0; shift < 64; shift += 7) {
            if (p >= end) break;
            const std::uint8_t byte = *p++;
            value |= std::uint64_t{byte & 0x7fu} << shift;
            if ((byte & 0x80) == 0) return value;
        }
        failed = true;
        return 0;
    }
    std::int64_t sleb() {
        std::int64_t value = 0;
        unsigned shift = 0;
        while (shift < 64) {
            if (p >= end) break;
            const std::uint8_t byte = *p++;
            value |= static_cast<std::int64_t>(std::uint64_t{byte & 0x7fu} << shift);
            shift += 7;
            if ((byte & 0x80) == 0) {
                if (shift < 64 && (byte & 0x40) != 0) value |= -(std::int64_t{1} << shift);
                return value;
            }
        }
        failed = true;
        return 0;
    }
    // A DW_EH_PE-encoded pointer; `dataBase` for datarel. Text-relative and function-relative
    // encodings do not occur in x86-64 .eh_frame and fail.
    std::uintptr_t encoded(std::uint8_t encoding, std::uintptr_t dataBase = 0) {
        if (encoding == kPeOmit) return 0;
        const auto here = reinterpret_cast<std::uintptr_t>(p);
        std::uintptr_t value = 0;
        switch (encoding & kPeFormatMask) {
        case 0x00: value = fixed<std::uint64_t>(); break; // absptr
        case 0x01: value = uleb(); break;
        case 0x02: value = fixed<std::uint16_t>(); break;
        case 0x03: value = fixed<std::uint32_t>(); break;
        case 0x04: value = fixed<std::uint64_t>(); break;
        case 0x09: value = static_cast<std::uintptr_t>(sleb()); break;
        case 0x0a: value = static_cast<std::uintptr_t>(static_cast<std::int64_t>(fixed<std::int16_t>())); break;
        case 0x0b: value = static_cast<std::uintptr_t>(static_cast<std::int64_t>(fixed<std::int32_t>())); break;
        case 0x0c: value = fixed<std::uint64_t>(); break;
        default: failed = true; return 0;
        }
        switch (encoding & kPeApplicationMask) {
        case 0x00: break;
        case 0x10: value += here; break;     // pcrel
        case 0x30: value += dataBase; break; // datarel
        default: failed = true; return 0;
        }
        if ((encoding & kPeIndirect) != 0) {
            failed = true; // never used for FDE pointers; only personality pointers, which we skip
            return 0;
        }
        return value;
    }
    void skip(std::uint64_t n) {
        if (static_cast<std::uint64_t>(end - p) < n) {
            failed = true;
            p = end;
        } else {
            p += n;
        }
    }
};

// The saved-location rule of one register, as far as the walk cares.
enum class RegRule : std::uint8_t { Unchanged, Undefined, Offset, Other };
struct Row {
    unsigned cfaRegister = kRegRsp;
    std::int64_t cfaOffset = 8;
    bool cfaExpression = false;
    RegRule rbp = RegRule::Unchanged, ra = RegRule::Unchanged;
    std::int64_t rbpOffset = 0, raOffset = 0;
};

struct Cie {
    std::uint64_t codeAlign = 1;
    std::int64_t dataAlign = -8;
    std::uint64_t returnRegister = kRegReturnAddress;
    std::uint8_t fdeEncoding = 0; // absptr unless 'R' says otherwise
    bool hasAugmentationData = false;
    bool signalFrame = false;
    const std::uint8_t* instructions = nullptr;
    const std::uint8_t* end = nullptr;
};

// One CFI record at `at`: sets *body to what follows the length, *end to its end.
bool recordBounds(const std::uint8_t* at, const std::uint8_t** body, const std::uint8_t** end) {
    std::uint32_t length32 = 0;
    std::memcpy(&length32, at, 4);
    if (length32 == 0) return false; // terminator
    if (length32 == 0xffffffffu) {
        std::uint64_t length64 = 0;
        std::memcpy(&length64, at + 4, 8);
        *body = at + 12;
        *end = *body + length64;
    } else {
        *body = at + 4;
        *end = *body + length32;
    }
    return true;
}

bool parseCie(const std::uint8_t* at, Cie* cie) {
    const std::uint8_t* body = nullptr;
    const std::uint8_t* end = nullptr;
    if (!recordBounds(at, &body, &end)) return false;
    Reader r{body, end};
    if (r.fixed<std::uint32_t>() != 0) return false; // not a CIE
    const std::uint8_t version = r.fixed<std::uint8_t>();
    if (version != 1 && version != 3) return false;
    const char* augmentation = reinterpret_cast<const char*>(r.p);
    const std::size_t augLength = strnlen(augmentation, static_cast<std::size_t>(end - r.p));
    r.skip(augLength + 1);
    if (augmentation[0] != '\0' && augmentation[0] != 'z') return false; // e.g. the old "eh"
    cie->codeAlign = r.uleb();
    cie->dataAlign = r.sleb();
    cie->returnRegister = version == 1 ? r.fixed<std::uint8_t>() : r.uleb();
    if (augmentation[0] == 'z') {
        cie->hasAugmentationData = true;
        const std::uint64_t dataLength = r.uleb();
        const std::uint8_t* dataEnd = r.p + dataLength;
        for (const char* c = augmentation + 1; *c != '\0' && !r.failed; ++c) {
            if (*c == 'R') {
                cie->fdeEncoding = r.fixed<std::uint8_t>();
            } else if (*c == 'L') {
                r.fixed<std::uint8_t>();
            } else if (*c == 'P') {
                const std::uint8_t encoding = r.fixed<std::uint8_t>();
                Reader skipPointer{r.p, end};
                skipPointer.encoded(static_cast<std::uint8_t>(encoding & ~kPeIndirect));
                r.p = skipPointer.p;
            } else if (*c == 'S') {
                cie->signalFrame = true;
            } else {
                break; // unknown letters: the data length still says where the data ends
            }
        }
        if (dataEnd > end) return false;
        r.p = dataEnd;
    }
    cie->instructions = r.p;
    cie->end = end;
    return !r.failed && cie->returnRegister == kRegReturnAddress;
}

// Runs CFA instructions from `r` until the location passes `pc`. `initial` is the row after the
// CIE's instructions (DW_CFA_restore goes back to it). False on anything unsupported.
bool runProgram(Reader r, const Cie& cie, std::uintptr_t location, std::uintptr_t pc, const Row& initial, Row* row) {
    constexpr int kMaxRemembered = 8;
    Row remembered[kMaxRemembered];
    int depth = 0;
    auto setOffset = [&](std::uint64_t reg, std::int64_t offset) {
        if (reg == kRegRbp) {
            row->rbp = RegRule::Offset;
            row->rbpOffset = offset;
        } else if (reg == kRegReturnAddress) {
            row->ra = RegRule::Offset;
            row->raOffset = offset;
        }
    };
    auto setRule = [&](std::uint64_t reg, RegRule rule) {
        if (reg == kRegRbp) row->rbp = rule;
        else if (reg == kRegReturnAddress) row->ra = rule;
    };
    auto restore = [&](std::uint64_t reg) {
        if (reg == kRegRbp) {
            row->rbp = initial.rbp;
            row->rbpOffset = initial.rbpOffset;
        } else if (reg == kRegReturnAddress) {
            row->ra = initial.ra;
            row->raOffset = initial.raOffset;
        }
    };
    while (r.p < r.end && !r.failed) {
        const std::uint8_t op = r.fixed<std::uint8_t>();
        const std::uint8_t low = op & 0x3f;
        std::uint64_t advance = 0;
        switch (op >> 6) {
        case 1: advance = low; break;                                                   // advance_loc
        case 2: setOffset(low, static_cast<std::int64_t>(r.uleb()) * cie.dataAlign); continue; // offset
        case 3: restore(low); continue;                                                 // restore
        default: break;
        }
        if (op >> 6 == 0) {
            switch (op) {
            case 0x00: break; // nop
            case 0x01: {      // set_loc
                const std::uintptr_t to = r.encoded(cie.fdeEncoding);
                if (to > pc) return !r.failed;
                location = to;
                break;
            }
            case 0x02: advance = r.fixed<std::uint8_t>(); break;
            case 0x03: advance = r.fixed<std::uint16_t>(); break;
            case 0x04: advance = r.fixed<std::uint32_t>(); break;
            case 0x05: { // offset_extended
                const std::uint64_t reg = r.uleb();
                setOffset(reg, static_cast<std::int64_t>(r.uleb()) * cie.dataAlign);
                break;
            }
            case 0x06: restore(r.uleb()); break;
            case 0x07: setRule(r.uleb(), RegRule::Undefined); break;
            case 0x08: setRule(r.uleb(), RegRule::Unchanged); break;
            case 0x09: setRule(r.uleb(), RegRule::Other); r.uleb(); break; // register
            case 0x0a:                                                        // remember_state
                if (depth == kMaxRemembered) return false;
                remembered[depth++] = *row;
                break;
            case 0x0b: // restore_state: the whole row, CFA included (a mid-function epilogue)
                if (depth == 0) return false;
                *row = remembered[--depth];
                break;
            case 0x0c: // def_cfa
                row->cfaRegister = static_cast<unsigned>(r.uleb());
                row->cfaOffset = static_cast<std::int64_t>(r.uleb());
                row->cfaExpression = false;
                break;
            case 0x0d: row->cfaRegister = static_cast<unsigned>(r.uleb()); row->cfaExpression = false; break;
            case 0x0e: row->cfaOffset = static_cast<std::int64_t>(r.uleb()); break;
            case 0x0f: row->cfaExpression = true; r.skip(r.uleb()); break; // def_cfa_expression
            case 0x10: setRule(r.uleb(), RegRule::Other); r.skip(r.uleb()); break; // expression
            case 0x11: { // offset_extended_sf
                const std::uint64_t reg = r.uleb();
                setOffset(reg, r.sleb() * cie.dataAlign);
                break;
            }
            case 0x12: // def_cfa_sf
                row->cfaRegister = static_cast<unsigned>(r.uleb());
                row->cfaOffset = r.sleb() * cie.dataAlign;
                row->cfaExpression = false;
                break;
            case 0x13: row->cfaOffset = r.sleb() * cie.dataAlign; break;
            case 0x14: setRule(r.uleb(), RegRule::Other); r.uleb(); break;  // val_offset
            case 0x15: setRule(r.uleb(), RegRule::Other); r.sleb(); break;  // val_offset_sf
            case 0x16: setRule(r.uleb(), RegRule::Other); r.skip(r.uleb()); break; // val_expression
            case 0x2e: r.uleb(); break; // GNU_args_size
            case 0x2f: {               // GNU_negative_offset_extended
                const std::uint64_t reg = r.uleb();
                setOffset(reg, -static_cast<std::int64_t>(r.uleb()) * cie.dataAlign);
                break;
            }
            default: return false;
            }
        }
        if (advance != 0) {
            location += advance * cie.codeAlign;
            if (location > pc) break;
        }
    }
    return !r.failed;
}

// The FDE covering `pc` through the object's sorted .eh_frame_hdr table, or nullptr.
const std::uint8_t* findFde(const std::uint8_t* header, std::uintptr_t pc) {
    if (header == nullptr || header[0] != 1) return nullptr;
    const std::uint8_t framePointerEncoding = header[1], countEncoding = header[2], tableEncoding = header[3];
    // The table needs fixed-size entries: GNU ld and lld always write datarel|sdata4 (0x3b).
    if (tableEncoding != 0x3b || countEncoding == kPeOmit) return nullptr;
    const auto base = reinterpret_cast<std::uintptr_t>(header);
    Reader r{header + 4, header + 4 + 16};
    r.encoded(framePointerEncoding, base);
    const std::uintptr_t count = r.encoded(countEncoding, base);
    if (r.failed || count == 0) return nullptr;
    const auto* table = reinterpret_cast<const std::int32_t*>(r.p);
    std::uintptr_t lo = 0, hi = count; // find the last entry whose start is <= pc
    while (hi - lo > 1) {
        const std::uintptr_t mid = lo + (hi - lo) / 2;
        if (base + static_cast<std::intptr_t>(table[2 * mid]) <= pc) lo = mid;
        else hi = mid;
    }
    if (base + static_cast<std::intptr_t>(table[2 * lo]) > pc) return nullptr;
    return reinterpret_cast<const std::uint8_t*>(base + static_cast<std::intptr_t>(table[2 * lo + 1]));
}

} // namespace

StepRule findStepRule(std::uintptr_t pc) noexcept {
    StepRule complex;
    complex.kind = StepRule::Kind::Complex;
    dl_find_object found{};
    if (_dl_find_object(reinterpret_cast<void*>(pc), &found) != 0) return complex;
    if (found.dlfo_eh_frame == nullptr) return complex;
    // Code without CFI (hand-written assembly, the hook engine's exit stub): libunwind ends the
    // walk there, and so does this one.
    StepRule walkEnds;
    walkEnds.kind = StepRule::Kind::Outermost;
    const std::uint8_t* fde = findFde(static_cast<const std::uint8_t*>(found.dlfo_eh_frame), pc);
    if (fde == nullptr) return walkEnds;
    const std::uint8_t* body = nullptr;
    const std::uint8_t* end = nullptr;
    if (!recordBounds(fde, &body, &end)) return complex;
    Reader r{body, end};
    const std::uint32_t ciePointer = r.fixed<std::uint32_t>();
    if (ciePointer == 0) return complex; // a CIE, not an FDE
    Cie cie;
    if (!parseCie(body - ciePointer, &cie) || cie.signalFrame) return complex;
    const std::uintptr_t start = r.encoded(cie.fdeEncoding);
    const std::uintptr_t range = r.encoded(cie.fdeEncoding & kPeFormatMask);
    if (r.failed) return complex;
    if (pc < start || pc - start >= range) return walkEnds; // between two FDEs
    if (cie.hasAugmentationData) r.skip(r.uleb());
    if (r.failed) return complex;
    Row initial;
    if (!runProgram(Reader{cie.instructions, cie.end}, cie, start, pc, initial, &initial)) return complex;
    Row row = initial;
    if (!runProgram(r, cie, start, pc, initial, &row)) return complex;

    if (row.ra == RegRule::Undefined) return walkEnds;
    StepRule rule;
    if (row.cfaExpression || (row.cfaRegister != kRegRsp && row.cfaRegister != kRegRbp) || row.ra != RegRule::Offset ||
        row.raOffset != -8 || row.rbp == RegRule::Other || row.cfaOffset < INT32_MIN || row.cfaOffset > INT32_MAX ||
        (row.rbp == RegRule::Offset && (row.rbpOffset < INT16_MIN || row.rbpOffset > INT16_MAX)))
        return complex;
    rule.kind = StepRule::Kind::Simple;
    rule.cfaFromRbp = row.cfaRegister == kRegRbp;
    rule.cfaOffset = static_cast<std::int32_t>(row.cfaOffset);
    rule.rbpSaved = row.rbp == RegRule::Offset;
    rule.rbpOffset = static_cast<std::int16_t>(row.rbpOffset);
    return rule;
}

} // namespace layertrace::probe::stack
