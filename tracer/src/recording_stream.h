// Private to the tracer library: a recording that arrives as a byte stream (a viewer's socket,
// layertrace serve/view) instead of a file. The bytes are exactly a .ltr file's
// (docs/recording-format.md), so whatever replays a file replays the stream.
#pragma once

#include <layertrace/recording.h>

#include <string>

namespace layertrace::tracer {

// Reads a recording from the socket or pipe `fd` until its final record and delivers it to `sink`
// as RecordingReader::replay does (onFinished exactly once). The stream ending early is damage:
// RecordingError naming `name` and the stream offset, after everything before it was delivered.
ReplayStats replayRecordingStream(int fd, const std::string& name, EventSink& sink);

} // namespace layertrace::tracer
