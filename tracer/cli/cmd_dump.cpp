// `layertrace dump FILE`: the raw structure of a recording (header, blocks, records with their
// offsets and decoded summaries), for debugging the format; damage is printed as the last line.
#include <layertrace/errors.h>
#include <layertrace/recording.h>

#include <iostream>
#include <string>

namespace layertrace::tracer::cli {

int dumpMain(int argc, char** argv) {
    std::string file;
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (!a.empty() && a[0] == '-') {
            throw UsageError("unknown option '" + a + "' for dump; try layertrace --help");
        }
        if (!file.empty()) {
            throw UsageError("dump takes one recording, got '" + file + "' and '" + a + "'");
        }
        file = a;
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
