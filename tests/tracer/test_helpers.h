// Shared helpers for the tracer unit tests: a temporary application tree and a collecting sink.
#pragma once

#include <layertrace/session.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace layertrace::tracer::test {

// A throw-away directory with files written into it; removed on destruction.
class TempTree {
public:
    TempTree() {
        std::string templ = (std::filesystem::temp_directory_path() / "lt-test-XXXXXX").string();
        m_root = ::mkdtemp(templ.data());
    }
    ~TempTree() { std::filesystem::remove_all(m_root); }
    TempTree(const TempTree&) = delete;
    TempTree& operator=(const TempTree&) = delete;

    std::string write(const std::string& relative, const std::string& text) {
        const auto p = std::filesystem::path(m_root) / relative;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p) << text;
        return p.string();
    }
    const std::string& root() const { return m_root; }

private:
    std::string m_root;
};

class CollectingSink : public EventSink {
public:
    void onStarted(std::uint32_t pid) override { started = pid; }
    void onModule(const ModuleInfo& m) override { modules.push_back(m); }
    void onEvent(const TraceEvent& e) override { events.push_back(e); }
    void onReport(const ProbeReport& r) override { reports.push_back(r); }
    void onDropped(std::uint32_t, std::uint64_t count) override { dropped += count; }
    void onFinished(const SessionResult& r) override {
        finished = true;
        result = r;
    }

    std::uint32_t started = 0;
    std::vector<ModuleInfo> modules;
    std::vector<TraceEvent> events;
    std::vector<ProbeReport> reports;
    std::uint64_t dropped = 0;
    bool finished = false;
    SessionResult result;
};

} // namespace layertrace::tracer::test
