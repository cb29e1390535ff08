// Python 3.11, full mode: PyCall/PyReturn from a PEP 523 frame-evaluation function instead of a
// profile function. Any profile function sends 3.11 through its unspecialised tracing dispatch
// (2.6x on a call-heavy loop with an empty one); an eval-frame function leaves the specialising
// interpreter on (see docs/probe.md, "Python events on 3.11").
#pragma once

#include <string>

namespace layertrace::probe::runtime::frame_hook {

// Puts our eval-frame function in front of the interpreter's current one, for every thread of
// the calling thread's interpreter, now and later. GIL held. False with the reason in *why
// when the interpreter lacks the PEP 523 functions; true when it was already in place (a new
// session reuses it).
bool install(std::string* why) noexcept;

// Whether our function is in the interpreter's chain and reporting (this session).
bool reporting() noexcept;

// Detach or session end: stop reporting. Any thread (no GIL): the function takes itself out of
// the interpreter, GIL held, at its next call; frames still inside it return through it safely.
void stop() noexcept;

} // namespace layertrace::probe::runtime::frame_hook
