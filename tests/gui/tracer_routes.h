// What the tracer itself finds in a recording: the catalog paths its own path builder (the CLI's
// `--format path`) matches when the file is replayed. The GUI must show at least these. Kept free
// of Qt headers: formatters.h has a member named `emit`, which Qt defines as a macro.
#pragma once

#include <layertrace/catalog.h>

#include <string>
#include <vector>

namespace layertrace::gui::test {

std::vector<std::string> catalogPathsInRecording(const std::string& recording, const tracer::Demo& demo);

} // namespace layertrace::gui::test
