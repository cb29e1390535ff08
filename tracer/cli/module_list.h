// `layertrace modules`: the objects and Python files the traced program had, kept per image (the
// program, then each program it exec'd into), and printed for the interpreter's image.
#pragma once

#include <layertrace/session.h>

#include <cstddef>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace layertrace::tracer::cli {

class ModuleList : public EventSink {
public:
    void onEvent(const TraceEvent&) override {}
    void onReport(const ProbeReport& r) override;
    void onConnected(std::uint32_t pid, const std::string& pythonVersion) override;
    void onModule(const ModuleInfo& m) override;

    // Prints the list, grouped by role: the objects of the last image that ran Python (else the
    // last image), with a line saying how many earlier images were left out; every image's with
    // `allImages`.
    void print(std::ostream& out, bool jsonl, bool allImages) const;

private:
    struct Image {
        bool python = false;
        std::map<std::string, std::size_t> index; // Python files by path, objects by load bias
        std::vector<ModuleInfo> modules;
        void add(const ModuleInfo& m);
    };
    Image& current();

    std::vector<Image> m_images;
};

} // namespace layertrace::tracer::cli
