// Shared command-line parsing and the trace printer (see trace_options.h).
#include "trace_options.h"

#include <layertrace/errors.h>

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <utility>

namespace layertrace::tracer::cli {

bool ArgCursor::next() {
    if (m_next >= m_argc) {
        return false;
    }
    m_name = m_argv[m_next++];
    m_hasInline = m_name.rfind("--", 0) == 0 && m_name.find('=') != std::string::npos;
    if (m_hasInline) {
        m_inline = m_name.substr(m_name.find('=') + 1);
        m_name.resize(m_name.find('='));
    }
    return true;
}

bool ArgCursor::isOption() const { return m_name.size() > 1 && m_name[0] == '-'; }

std::string ArgCursor::value() {
    if (m_hasInline) {
        return m_inline;
    }
    if (m_next >= m_argc) {
        throw UsageError(m_name + " needs a value");
    }
    return m_argv[m_next++];
}

std::vector<std::string> ArgCursor::rest() {
    std::vector<std::string> out;
    while (m_next < m_argc) {
        out.emplace_back(m_argv[m_next++]);
    }
    return out;
}

namespace {

std::uint32_t parseTid(const std::string& text) {
    char* end = nullptr;
    errno = 0;
    const unsigned long v = std::strtoul(text.c_str(), &end, 10);
    if (text.empty() || text[0] == '-' || *end != '\0' || errno != 0 || v == 0 || v > 4194304) {
        throw UsageError("--tid wants a thread id (a positive number, as in the [N] of the tree), not '" + text + "'");
    }
    return static_cast<std::uint32_t>(v);
}

std::string glob(ArgCursor& args) {
    std::string g = args.value();
    if (g.empty()) {
        throw UsageError(args.name() + " wants a non-empty GLOB (fnmatch: *, ?, [...])");
    }
    return g;
}

// --spool-limit's SIZE: a number of bytes, with K, M, G or T (KiB, MiB, GiB, TiB) after it.
std::uint64_t parseByteSize(const std::string& option, const std::string& text) {
    const auto bad = [&] {
        return UsageError(option + " wants a size (bytes, or with K, M, G, T: 512M, 2G; 0 for none), not '" + text +
                          "'");
    };
    char* end = nullptr;
    errno = 0;
    const double number = std::strtod(text.c_str(), &end);
    if (text.empty() || !(text[0] >= '0' && text[0] <= '9') || errno != 0 || !(number >= 0)) {
        throw bad();
    }
    std::string unit(end);
    for (char& c : unit) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (unit.size() == 3 && unit.compare(1, 2, "IB") == 0) {
        unit.resize(1); // MiB -> M
    }
    static constexpr std::pair<const char*, int> kUnits[] = {{"", 0}, {"B", 0}, {"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}};
    for (const auto& [name, shift] : kUnits) {
        if (unit == name) {
            const double bytes = number * static_cast<double>(std::uint64_t(1) << shift);
            if (bytes >= 18e18) {
                throw bad();
            }
            return static_cast<std::uint64_t>(bytes);
        }
    }
    throw bad();
}

} // namespace

bool parseFilterOption(ArgCursor& args, EventFilterOptions& filter) {
    const std::string& a = args.name();
    if (a == "--tid") {
        filter.tids.push_back(parseTid(args.value()));
    } else if (a == "--layer") {
        const std::string name = args.value();
        const auto roles = rolesOfLayer(name);
        if (!roles) {
            throw UsageError("--layer must be python, extension, ffi or native (or 1, 2, 3), not '" + name + "'");
        }
        filter.roles.insert(filter.roles.end(), roles->begin(), roles->end());
    } else if (a == "--role") {
        const std::string name = args.value();
        const auto role = roleFromName(name);
        if (!role) {
            throw UsageError("--role must be app, wrapper, pylib, ext, glue, capi, ffi, native or unknown, not '" +
                             name + "'");
        }
        filter.roles.push_back(*role);
    } else if (a == "--module") {
        filter.moduleGlobs.push_back(glob(args));
    } else if (a == "--function") {
        filter.functionGlobs.push_back(glob(args));
    } else if (a == "--hide") {
        filter.hideGlobs.push_back(glob(args));
    } else if (a == "--only-crossings") {
        filter.onlyCrossings = true;
    } else {
        return false;
    }
    return true;
}

bool parseOutputOption(ArgCursor& args, OutputOptions& output) {
    const std::string& a = args.name();
    if (a == "--format") {
        output.format = args.value();
        if (output.format != "tree" && output.format != "path" && output.format != "jsonl") {
            throw UsageError("--format must be tree, path or jsonl, not '" + output.format + "'");
        }
    } else if (a == "--color" || a == "--colour") {
        output.color = args.value();
        if (output.color != "auto" && output.color != "always" && output.color != "never") {
            throw UsageError("--color must be auto, always or never, not '" + output.color + "'");
        }
    } else if (a == "--text-output") {
        output.textOutput = args.value();
    } else {
        return parseFilterOption(args, output.filter);
    }
    return true;
}

bool parseCaptureOption(ArgCursor& args, RunOptions& run) {
    const std::string& a = args.name();
    if (a == "--mode") {
        const std::string m = args.value();
        if (m != "full" && m != "anchored") {
            throw UsageError("--mode must be full or anchored, not '" + m + "'");
        }
        run.mode = m == "full" ? TraceMode::Full : TraceMode::Anchored;
    } else if (a == "--probe") {
        const std::string spec = args.value();
        if (spec.find(':') == std::string::npos || spec.front() == ':' || spec.back() == ':') {
            throw UsageError("--probe wants LIB:GLOB (e.g. libstruct_demo.so:*), not '" + spec + "'");
        }
        run.probeSpecs.push_back(spec);
    } else if (a == "--no-stacks") {
        run.stacks = false;
    } else if (a == "--lossless") {
        run.lossless = true;
    } else if (a == "--c-calls") {
        const std::string which = args.value();
        if (which != "extensions" && which != "all") {
            throw UsageError("--c-calls must be extensions or all, not '" + which + "'");
        }
        run.allCCalls = which == "all";
    } else if (a == "--spool-limit") {
        run.spoolLimit = parseByteSize(a, args.value());
    } else if (a == "--app") {
        run.appPaths.push_back(args.value());
    } else if (a == "--wrapper") {
        run.wrapperGlobs.push_back(args.value());
    } else {
        return false;
    }
    return true;
}

bool parseTraceOptions(ArgCursor& args, TraceOptions& trace) {
    if (args.name() == "-o" || args.name() == "--output") {
        trace.recording = args.value();
        return true;
    }
    return parseCaptureOption(args, trace.run) || parseOutputOption(args, trace.output);
}

void unknownOption(const std::string& option, const std::string& command, const std::string& help) {
    throw UsageError("unknown option '" + option + "' for " + command + "; try " + help);
}

void takeRecordingPath(const std::string& argument, std::string& file, const std::string& command) {
    if (!file.empty()) {
        throw UsageError(command + " takes one recording, got '" + file + "' and '" + argument + "'");
    }
    file = argument;
}

std::ostream& openTextOutput(const std::string& path, std::ofstream& file, std::vector<char>* buffer) {
    if (path.empty()) {
        return std::cout;
    }
    if (buffer != nullptr) {
        buffer->resize(std::size_t(256) << 10);
        file.rdbuf()->pubsetbuf(buffer->data(), static_cast<std::streamsize>(buffer->size()));
    }
    file.open(path, std::ios::out | std::ios::trunc);
    if (!file) {
        throw IoError(path, std::string("cannot open for writing: ") + std::strerror(errno));
    }
    return file;
}

void printProbeReport(const ProbeReport& r) {
    const char* level = r.level == ProbeReport::Level::Error     ? "error"
                        : r.level == ProbeReport::Level::Warning ? "warning"
                                                                 : "info";
    if (r.origin == ProbeReport::Origin::Tracer) {
        // The tracer's own notes about the session: no "probe", and an info needs no label.
        std::cerr << "layertrace: " << (r.level == ProbeReport::Level::Info ? "" : std::string(level) + ": ")
                  << r.message << '\n';
        return;
    }
    std::cerr << "layertrace: probe " << level << ": " << r.message << '\n';
}

TracePrinter::TracePrinter(const OutputOptions& options, std::uint32_t mainPid)
    : m_out(&openTextOutput(options.textOutput, m_file, &m_fileBuffer)) {
    const bool tty = options.textOutput.empty() && ::isatty(STDOUT_FILENO) != 0;
    FormatOptions fo;
    fo.color = options.color == "always" || (options.color == "auto" && tty);
    fo.mainPid = mainPid;
    const OutputFormat format = options.format == "path"    ? OutputFormat::Path
                                : options.format == "jsonl" ? OutputFormat::Jsonl
                                                            : OutputFormat::Tree;
    m_formatter = makeFormatter(format, *m_out, fo);
    if (!options.filter.empty()) {
        m_filter = std::make_unique<EventFilter>(options.filter, *m_formatter);
    }
}

void TracePrinter::finish() {
    m_out->flush();
    if (m_filter && m_filter->seen() != 0 && m_filter->kept() == 0) {
        std::cerr << "layertrace: the filters kept none of the " << m_filter->seen()
                  << " events (check --tid/--layer/--role/--module/--function/--hide against an unfiltered --format jsonl)\n";
    }
}

} // namespace layertrace::tracer::cli
