// `layertrace dump FILE`: the raw structure of a recording (header, blocks, records with their
// offsets and decoded summaries), for debugging the format; damage is printed as the last line.
#include <layertrace/errors.h>
#include <layertrace/recording.h>

#include "trace_options.h"

#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

int dumpMain(int argc, char** argv) {
    std::string file;
    ArgCursor args(argc, argv, 2);
    while (args.next()) {
        if (args.isOption()) {
            unknownOption(args.name(), "dump", "layertrace --help");
        }
        takeRecordingPath(args.name(), file, "dump");
    }
    if (file.empty()) {
        throw UsageError("no recording given: layertrace dump FILE");
    }
    RecordingReader reader(file);
    try {
        reader.dump(std::cout);
    } catch (const RecordingError&) {
        std::cout.flush();
        throw;
    }
    std::cout.flush();
    return 0;
}

} // namespace layertrace::tracer::cli
