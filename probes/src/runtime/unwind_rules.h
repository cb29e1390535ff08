// One unwind step of x86-64 code, read from the object's .eh_frame (DWARF CFI) and reduced to the
// few numbers a stack walk needs, so that native_stack.cpp can cache it per return address
// instead of interpreting the CFI again on every walk.
#pragma once

#include <cstdint>

namespace layertrace::probe::stack {

struct StepRule {
    enum class Kind : std::uint8_t {
        Unknown,  // not looked up yet (a cache slot's zero value)
        Simple,   // the fields below describe the step
        Outermost, // the walk ends here: the return address is undefined (a thread's first frame)
                   // or the code has no CFI (libunwind stops there too)
        Complex,  // anything else (CFA expression, signal frame, no CFI, rbp kept in a register...):
                  // a walk reaching it is redone with libunwind
    };
    Kind kind = Kind::Unknown;
    bool cfaFromRbp = false;  // CFA = (cfaFromRbp ? rbp : rsp) + cfaOffset
    bool rbpSaved = false;    // the caller's rbp is at CFA + rbpOffset (else rbp is unchanged)
    std::int32_t cfaOffset = 0;
    std::int16_t rbpOffset = 0;
    // The return address is always at CFA - 8 in a Simple rule (anything else is Complex).
};

// The rule that unwinds one frame whose code is at `pc`: for a frame that made a call, pass
// return address - 1 (the call instruction, as every unwinder does). Reads the object's
// PT_GNU_EH_FRAME table found with _dl_find_object; never takes the loader lock; Complex when
// the object or the rule is not covered.
StepRule findStepRule(std::uintptr_t pc) noexcept;

} // namespace layertrace::probe::stack
