// Command-line parts shared by the subcommands: walking arguments (`--opt value`, `--opt=value`),
// the options of a traced session (run, attach), the printed trace's format, colour, file and
// filters (run, attach, replay), the one FILE argument of replay/export/dump, and the printer
// that turns those output options into an EventSink.
#pragma once

#include <layertrace/event_filter.h>
#include <layertrace/formatters.h>
#include <layertrace/session.h>

#include <fstream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

namespace layertrace::tracer::cli {

// Walks argv from `first`. `--name=value` is split; any other argument is one name.
class ArgCursor {
public:
    ArgCursor(int argc, char** argv, int first) : m_argc(argc), m_argv(argv), m_next(first) {}

    bool next();                         // moves to the next argument; false at the end
    const std::string& name() const { return m_name; }
    bool isOption() const;               // starts with '-' (a lone "-" is not an option)
    std::string value();                 // the inline value or the next argument (UsageError if none)
    std::vector<std::string> rest();     // every argument after the current one

private:
    int m_argc;
    char** m_argv;
    int m_next;
    std::string m_name;
    std::string m_inline;
    bool m_hasInline = false;
};

// The printed trace: run, attach and replay.
struct OutputOptions {
    std::string format = "tree";
    std::string color = "auto";
    std::string textOutput; // --text-output: the trace goes to this file instead of stdout
    EventFilterOptions filter;
};

// A traced session: run and attach.
struct TraceOptions {
    RunOptions run;
    OutputOptions output;
    std::string recording; // -o/--output: a recording file (docs/recording-format.md)
};

// Each consumes the current option (and its value) when it is one of theirs and returns true.
// Values are checked here, so every command gives the same message for the same mistake.
bool parseFilterOption(ArgCursor& args, EventFilterOptions& filter); // --tid --layer --role --module --function --hide --only-crossings
bool parseOutputOption(ArgCursor& args, OutputOptions& output);     // --format --color --text-output + filters
bool parseCaptureOption(ArgCursor& args, RunOptions& run);          // --mode --probe --no-stacks --lossless --c-calls --spool-limit --app --wrapper
bool parseTraceOptions(ArgCursor& args, TraceOptions& trace);       // all of the above and -o/--output

// "unknown option 'X' for COMMAND; try HELP".
[[noreturn]] void unknownOption(const std::string& option, const std::string& command, const std::string& help);

// The one recording FILE of replay/export/dump: stores the positional argument, refusing a second.
void takeRecordingPath(const std::string& argument, std::string& file, const std::string& command);

// `file` opened on `path` (IoError naming it if it cannot be), or std::cout when `path` is empty.
// With `buffer`, the file writes through it (it must outlive `file`) instead of its own 8 KiB.
std::ostream& openTextOutput(const std::string& path, std::ofstream& file, std::vector<char>* buffer = nullptr);

// A probe report on stderr, as live and replayed sessions print them.
void printProbeReport(const ProbeReport& report);

// Where the trace is printed and through what: stdout or --text-output, the format's formatter,
// and the filters in front of it. sink() is what a session or a replay feeds.
class TracePrinter {
public:
    explicit TracePrinter(const OutputOptions& options, std::uint32_t mainPid = 0);
    EventSink& sink() { return m_filter ? static_cast<EventSink&>(*m_filter) : *m_formatter; }
    // Flushes; with filters that kept nothing, says so on stderr (an empty output is otherwise a puzzle).
    void finish();

private:
    // A live trace writes millions of lines a second: with the ofstream's own 8 KiB buffer the
    // write(2) per few lines cost more than formatting them. Declared before m_file: outlives it.
    std::vector<char> m_fileBuffer;
    std::ofstream m_file;
    std::ostream* m_out;
    std::unique_ptr<EventSink> m_formatter;
    std::unique_ptr<EventFilter> m_filter;
};

} // namespace layertrace::tracer::cli
