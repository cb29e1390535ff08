// A small JSON reader (for demos/catalog.json and tests) and string escaping for the jsonl
// writer. No JSON library is packaged that we want; this covers RFC 8259 without extensions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace layertrace::tracer::json {

class Value;
using Array = std::vector<Value>;
using Object = std::map<std::string, Value, std::less<>>;

class Value {
public:
    Value() = default; // null
    explicit Value(bool b) : m_data(b) {}
    explicit Value(double d) : m_data(d) {}
    explicit Value(std::string s) : m_data(std::move(s)) {}
    explicit Value(Array a) : m_data(std::make_shared<Array>(std::move(a))) {}
    explicit Value(Object o) : m_data(std::make_shared<Object>(std::move(o))) {}

    bool isNull() const { return std::holds_alternative<std::monostate>(m_data); }
    bool isBool() const { return std::holds_alternative<bool>(m_data); }
    bool isNumber() const { return std::holds_alternative<double>(m_data); }
    bool isString() const { return std::holds_alternative<std::string>(m_data); }
    bool isArray() const { return std::holds_alternative<std::shared_ptr<Array>>(m_data); }
    bool isObject() const { return std::holds_alternative<std::shared_ptr<Object>>(m_data); }

    // Accessors throw FormatError (naming `what`) when the type is wrong.
    bool asBool() const;
    double asNumber() const;
    const std::string& asString() const;
    const Array& asArray() const;
    const Object& asObject() const;

    // Object member or nullptr.
    const Value* find(std::string_view key) const;

private:
    std::variant<std::monostate, bool, double, std::string, std::shared_ptr<Array>, std::shared_ptr<Object>> m_data;
};

// Parses a whole document; throws FormatError(source, byte offset, what was expected).
Value parse(std::string_view text, const std::string& source = "<json>");

// Appends `s` as a JSON string literal (with quotes), escaping control characters and
// replacing invalid UTF-8 with U+FFFD so every line we write parses.
void appendQuoted(std::string& out, std::string_view s);
std::string quoted(std::string_view s);
// The same into memory the caller sized: at most maxQuotedSize(s.size()) bytes from `out`.
// Returns the end of what was written.
char* writeQuoted(char* out, std::string_view s);
constexpr std::size_t maxQuotedSize(std::size_t size) { return 6 * size + 2; } // "\u001f" per byte
// Where the first byte from `from` on that needs escaping lies (s.size() when none does).
std::size_t plainRun(std::string_view s, std::size_t from);

} // namespace layertrace::tracer::json
