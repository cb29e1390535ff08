// `layertrace modules`' list (module_list.h).
#include "module_list.h"

#include "trace_options.h"

#include <layertrace/formatters.h>

#include <algorithm>
#include <iostream>
#include <utility>

namespace layertrace::tracer::cli {

void ModuleList::onReport(const ProbeReport& r) { printProbeReport(r); }

// Every image sends a Hello: a new program, whose objects are not the old one's.
void ModuleList::onConnected(std::uint32_t, const std::string& pythonVersion) {
    m_images.emplace_back();
    m_images.back().python = !pythonVersion.empty();
}

void ModuleList::onModule(const ModuleInfo& m) { current().add(m); }

ModuleList::Image& ModuleList::current() {
    if (m_images.empty()) {
        m_images.emplace_back();
    }
    return m_images.back();
}

void ModuleList::Image::add(const ModuleInfo& m) {
    // Python files by path; objects by load bias (a renamed object replaces its first name).
    const std::string key = m.python ? m.path : "@" + std::to_string(m.base);
    if (index.count(key) == 0) {
        index[key] = modules.size();
        modules.push_back(m);
    } else {
        modules[index[key]] = m; // a Python file's role may be updated
    }
}

void ModuleList::print(std::ostream& out, bool jsonl, bool allImages) const {
    std::vector<ModuleInfo> mods;
    std::size_t skipped = 0;
    bool chosePython = false;
    if (allImages) {
        for (const Image& image : m_images) {
            mods.insert(mods.end(), image.modules.begin(), image.modules.end());
        }
    } else if (!m_images.empty()) {
        // A launcher chain (a pyenv shim: bash, env, bash...) ends in the interpreter; a Python
        // program that exec'd something else is still the one asked about.
        auto chosen = std::find_if(m_images.rbegin(), m_images.rend(), [](const Image& i) { return i.python; });
        chosePython = chosen != m_images.rend();
        if (!chosePython) {
            chosen = m_images.rbegin();
        }
        mods = chosen->modules;
        skipped = m_images.size() - 1;
    }
    std::stable_sort(mods.begin(), mods.end(), [](const ModuleInfo& a, const ModuleInfo& b) {
        return std::make_pair(static_cast<int>(a.role), a.name) < std::make_pair(static_cast<int>(b.role), b.name);
    });
    for (const auto& m : mods) {
        if (jsonl) {
            out << moduleToJson(m) << '\n';
            continue;
        }
        std::string role(roleName(m.role));
        role.resize(8, ' ');
        out << role << m.name << "  " << m.path << "\n        " << m.reason << '\n';
    }
    if (skipped > 0) {
        const std::string note = "the process exec'd: of its " + std::to_string(skipped + 1) + " programs only " +
                                 (chosePython ? "the Python interpreter's" : "the last one's") +
                                 " objects are listed, " + std::to_string(skipped) + " skipped (--all-images lists "
                                 "every program's)";
        // jsonl stays one object a line: the note goes with the other notices, on stderr.
        if (jsonl) {
            std::cerr << "layertrace: " << note << '\n';
        } else {
            out << '(' << note << ")\n";
        }
    }
    out.flush();
}

} // namespace layertrace::tracer::cli
