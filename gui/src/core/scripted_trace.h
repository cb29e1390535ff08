// Event streams constructed in code: the Part IV transform() call as a teaching sequence (for
// tests, screenshots and the `--example` mode, always labelled as scripted, never as live), and
// synthetic load for the ingest benchmark.
#pragma once

#include <layertrace/trace_event.h>

#include <cstdint>
#include <vector>

namespace layertrace::gui {

// user.py main → mypkg/bindings.py transform → _ctypes → libffi ffi_call →
// libstruct_demo.so transform_record → a nested helper, and all the way back.
std::vector<TraceEvent> scriptedPartFourTrace();

// `calls` nested calls of depth 4 (app → ext → ffi → native) spread over `threads` threads.
std::vector<TraceEvent> syntheticLoad(std::size_t calls, std::uint32_t threads, std::uint64_t firstSeq = 0);

} // namespace layertrace::gui
