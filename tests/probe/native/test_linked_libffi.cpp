// A program linked with libffi, traced by the real `layertrace run`: the probe hooks libffi from
// its constructor, before the hook engine's own static initializers would have run, so this is
// the check that nothing the engine needs at that point is dynamically initialized.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

struct Output {
    std::vector<std::string> lines;
    int status = -1;
};

Output runLayertrace(const std::string& args) {
    Output out;
    const std::string command = std::string(LAYERTRACE_BIN) + " " + args + " 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return out;
    std::string line;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) {
        line += buffer;
        if (!line.empty() && line.back() == '\n') {
            line.pop_back();
            out.lines.push_back(line);
            line.clear();
        }
    }
    out.status = pclose(pipe);
    return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(LinkedLibffi, FfiCallsOfAProgramLinkedWithLibffiAreTraced) {
    const Output out = runLayertrace("run --mode anchored --no-stacks --format jsonl -- " LT_LINKED_LIBFFI);
    ASSERT_EQ(out.status, 0) << "layertrace or the program failed";
    int calls = 0, returns = 0;
    for (const std::string& line : out.lines) {
        if (!contains(line, R"("symbol":"lt_linked_mul")")) continue;
        if (contains(line, R"("kind":"ffi_call")")) {
            ++calls;
            EXPECT_TRUE(contains(line, R"("args":[{"type":"int32","value":"6"},{"type":"int32","value":"7"}])")) << line;
        } else if (contains(line, R"("kind":"ffi_return")")) {
            ++returns;
            EXPECT_TRUE(contains(line, R"("value":"42")")) << line;
        }
    }
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(returns, 3);
}

} // namespace
