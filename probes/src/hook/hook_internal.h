// Internals shared by the hook engine's translation units: executable memory near a target,
// prologue relocation, the live-patching protocol and page-protection helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace layertrace::probe::hook::detail {

// Executable (RWX) memory, preferably within +-2 GB of `near` so that a 5-byte `jmp rel32`
// reaches it; `*isNear` tells whether it is. Never freed: a thread may still be executing a
// trampoline long after its hook was removed. nullptr when mmap fails.
std::uint8_t* allocateCode(std::uintptr_t near, std::size_t size, bool* isNear);

inline bool fitsRel32(std::int64_t value) { return value >= INT32_MIN && value <= INT32_MAX; }

// An inline patch of a function's first instructions, prepared by preparePatch and applied /
// reverted by the live protocol. Also maps each displaced instruction to its relocated copy so
// that a thread caught in the middle of the range can be moved into the trampoline.
struct InlinePatch {
    static constexpr std::size_t kMaxLength = 32;
    static constexpr std::size_t kMaxInstructions = 16;
    std::uintptr_t function = 0;
    std::uintptr_t site = 0;   // first patched byte (after an endbr64)
    std::size_t length = 0;    // bytes replaced at `site`
    std::uint8_t original[kMaxLength] = {};
    std::uint8_t patched[kMaxLength] = {};
    std::uintptr_t trampoline = 0; // relocated displaced instructions, then a jump back
    bool trap = false;             // int3 hook: the function is too short for a jump
    std::uintptr_t trapResume = 0; // where the SIGTRAP handler sends a thread that hits it
    std::size_t instructionCount = 0;
    std::uint8_t originalOffset[kMaxInstructions] = {};   // offset of instruction i at `site`
    std::uint16_t relocatedOffset[kMaxInstructions] = {}; // ...and of its copy in the trampoline
};

// Layout of one hook's code slot: entry code (thunk) first, trampoline after it.
inline constexpr std::size_t kSlotSize = 160;
inline constexpr std::size_t kThunkSize = 32;

// Decodes `function`'s prologue with Capstone and relocates what the patch displaces into
// `slot + kThunkSize`; the patch will jump to `slot` (the thunk the caller fills in). Refuses
// (false, *error) what cannot be relocated or patched safely.
// `allowTrap`: a function too short for any jump may get an int3 hook instead.
bool preparePatch(std::uintptr_t function, std::size_t functionSize, std::uint8_t* slot, bool slotIsNear,
                  bool allowTrap, InlinePatch& patch, std::string* error);

// The live-patching protocol (docs/hooking.md): int3 first, serialize all cores, move threads
// out of the range, write the tail, serialize, write the head, serialize. `install` selects
// patched vs original bytes. A thread that hits the int3 meanwhile resumes in the trampoline.
bool applyPatch(const InlinePatch& patch, bool install, std::string* error);

// Serializes every core running this process (membarrier SYNC_CORE, else a signal round trip
// through every thread).
void serializeCores();

// Current protection (PROT_*) of the page holding `address`, from /proc/self/maps; -1 unknown.
int pageProtection(std::uintptr_t address);

// Writes one aligned 8-byte slot (a GOT entry), making a read-only (RELRO) page writable for the
// store and restoring its protection afterwards.
bool writeSlot(std::uintptr_t slot, std::uintptr_t value, std::string* error);

} // namespace layertrace::probe::hook::detail
