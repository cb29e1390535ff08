// File > Save trace as…: turning the recording a live session writes in the background into the
// user's file, whether the session is still running or over.
#pragma once

#include <cstdint>
#include <string>

namespace layertrace::gui {

struct SavedRecording {
    bool snapshot = false;   // the session was still running: the file ends where the copy was taken
    std::uint64_t events = 0; // events in a snapshot (a complete copy is not decoded)
};

// Saves the recording at `source` as `destination` (replacing it only once the new file is
// complete). A complete recording is copied byte for byte. One still being written is saved as
// a snapshot: every complete block replayed into a new recording that ends with a final record
// saying the session was still running, so the file reads without damage. Throws tracer::Error
// (IoError naming the file) on failure.
SavedRecording saveRecording(const std::string& source, const std::string& destination, bool complete);

} // namespace layertrace::gui
