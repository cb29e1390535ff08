// Fatal-signal flush: handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGABRT that get the
// events still in the rings out before the process dies, then let it die exactly as it would
// have. See docs/probe.md ("Crashes").
#pragma once

namespace layertrace::probe::runtime {

// Installs the handlers (SA_SIGINFO | SA_ONSTACK), remembering each signal's disposition at
// that moment as the one to chain to. Once per session; a no-op while they are installed.
void installFatalSignalHandlers() noexcept;

// Detach or a lost tracer: gives each signal back its previous disposition where ours is still
// the installed one (a handler the program installed over ours is left alone).
void restoreFatalSignalHandlers() noexcept;

} // namespace layertrace::probe::runtime
