// Recursive-descent JSON parser and string escaping (see json.h).
#include <layertrace/json.h>

#include <layertrace/errors.h>

#include <bit>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstring>
#include <cmath>
#include <cstdlib>

namespace layertrace::tracer::json {

namespace {

[[noreturn]] void typeError(const char* wanted) {
    throw FormatError("<json>", 0, std::string("expected a JSON ") + wanted);
}

class Parser {
public:
    Parser(std::string_view text, const std::string& source) : m_text(text), m_source(source) {}

    Value document() {
        Value v = value(0);
        skipSpace();
        if (m_pos != m_text.size()) {
            fail("trailing characters after the JSON value");
        }
        return v;
    }

private:
    static constexpr int kMaxDepth = 200;

    [[noreturn]] void fail(const std::string& why) const { throw FormatError(m_source, m_pos, why); }

    void skipSpace() {
        while (m_pos < m_text.size() &&
               (m_text[m_pos] == ' ' || m_text[m_pos] == '\t' || m_text[m_pos] == '\n' || m_text[m_pos] == '\r')) {
            ++m_pos;
        }
    }

    bool consume(std::string_view word) {
        if (m_text.substr(m_pos, word.size()) == word) {
            m_pos += word.size();
            return true;
        }
        return false;
    }

    Value value(int depth) {
        if (depth > kMaxDepth) {
            fail("nesting deeper than 200 levels");
        }
        skipSpace();
        if (m_pos >= m_text.size()) {
            fail("unexpected end of input, expected a value");
        }
        const char c = m_text[m_pos];
        if (c == '{') {
            return object(depth);
        }
        if (c == '[') {
            return array(depth);
        }
        if (c == '"') {
            return Value(string());
        }
        if (consume("true")) {
            return Value(true);
        }
        if (consume("false")) {
            return Value(false);
        }
        if (consume("null")) {
            return Value();
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            return number();
        }
        fail(std::string("unexpected character '") + c + "'");
    }

    Value object(int depth) {
        ++m_pos; // {
        Object members;
        skipSpace();
        if (m_pos < m_text.size() && m_text[m_pos] == '}') {
            ++m_pos;
            return Value(std::move(members));
        }
        for (;;) {
            skipSpace();
            if (m_pos >= m_text.size() || m_text[m_pos] != '"') {
                fail("expected a string key");
            }
            std::string key = string();
            skipSpace();
            if (m_pos >= m_text.size() || m_text[m_pos] != ':') {
                fail("expected ':' after key \"" + key + "\"");
            }
            ++m_pos;
            members[std::move(key)] = value(depth + 1);
            skipSpace();
            if (m_pos < m_text.size() && m_text[m_pos] == ',') {
                ++m_pos;
                continue;
            }
            if (m_pos < m_text.size() && m_text[m_pos] == '}') {
                ++m_pos;
                return Value(std::move(members));
            }
            fail("expected ',' or '}' in object");
        }
    }

    Value array(int depth) {
        ++m_pos; // [
        Array items;
        skipSpace();
        if (m_pos < m_text.size() && m_text[m_pos] == ']') {
            ++m_pos;
            return Value(std::move(items));
        }
        for (;;) {
            items.push_back(value(depth + 1));
            skipSpace();
            if (m_pos < m_text.size() && m_text[m_pos] == ',') {
                ++m_pos;
                continue;
            }
            if (m_pos < m_text.size() && m_text[m_pos] == ']') {
                ++m_pos;
                return Value(std::move(items));
            }
            fail("expected ',' or ']' in array");
        }
    }

    unsigned hex4() {
        if (m_pos + 4 > m_text.size()) {
            fail("truncated \\u escape");
        }
        unsigned v = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = m_text[m_pos++];
            v <<= 4;
            if (h >= '0' && h <= '9') {
                v |= static_cast<unsigned>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
                v |= static_cast<unsigned>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
                v |= static_cast<unsigned>(h - 'A' + 10);
            } else {
                fail("bad hex digit in \\u escape");
            }
        }
        return v;
    }

    static void appendUtf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::string string() {
        ++m_pos; // opening quote
        std::string out;
        while (m_pos < m_text.size()) {
            const char c = m_text[m_pos++];
            if (c == '"') {
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                --m_pos;
                fail("control character inside a string");
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (m_pos >= m_text.size()) {
                break;
            }
            const char e = m_text[m_pos++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xD800 && cp < 0xDC00 && consume("\\u")) {
                    const unsigned low = hex4();
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                }
                appendUtf8(out, cp);
                break;
            }
            default: --m_pos; fail(std::string("bad escape '\\") + e + "'");
            }
        }
        fail("unterminated string");
    }

    Value number() {
        const std::size_t start = m_pos;
        if (m_text[m_pos] == '-') {
            ++m_pos;
        }
        auto digits = [&] {
            const std::size_t s = m_pos;
            while (m_pos < m_text.size() && m_text[m_pos] >= '0' && m_text[m_pos] <= '9') {
                ++m_pos;
            }
            return m_pos > s;
        };
        if (!digits()) {
            fail("expected digits");
        }
        if (m_pos < m_text.size() && m_text[m_pos] == '.') {
            ++m_pos;
            if (!digits()) {
                fail("expected digits after '.'");
            }
        }
        if (m_pos < m_text.size() && (m_text[m_pos] == 'e' || m_text[m_pos] == 'E')) {
            ++m_pos;
            if (m_pos < m_text.size() && (m_text[m_pos] == '+' || m_text[m_pos] == '-')) {
                ++m_pos;
            }
            if (!digits()) {
                fail("expected exponent digits");
            }
        }
        const std::string literal(m_text.substr(start, m_pos - start));
        return Value(std::strtod(literal.c_str(), nullptr));
    }

    std::string_view m_text;
    const std::string& m_source;
    std::size_t m_pos = 0;
};

} // namespace

bool Value::asBool() const {
    if (!isBool()) {
        typeError("boolean");
    }
    return std::get<bool>(m_data);
}

double Value::asNumber() const {
    if (!isNumber()) {
        typeError("number");
    }
    return std::get<double>(m_data);
}

const std::string& Value::asString() const {
    if (!isString()) {
        typeError("string");
    }
    return std::get<std::string>(m_data);
}

const Array& Value::asArray() const {
    if (!isArray()) {
        typeError("array");
    }
    return *std::get<std::shared_ptr<Array>>(m_data);
}

const Object& Value::asObject() const {
    if (!isObject()) {
        typeError("object");
    }
    return *std::get<std::shared_ptr<Object>>(m_data);
}

const Value* Value::find(std::string_view key) const {
    if (!isObject()) {
        return nullptr;
    }
    const auto& members = asObject();
    const auto it = members.find(key);
    return it == members.end() ? nullptr : &it->second;
}

Value parse(std::string_view text, const std::string& source) { return Parser(text, source).document(); }

namespace {
static_assert(std::endian::native == std::endian::little, "plainRun reads bytes as little-endian words");

constexpr std::uint64_t kOnes = 0x0101010101010101ull;
constexpr std::uint64_t kHighBits = 0x8080808080808080ull;

// High bit set in each byte of `w` that is zero (exact for the lowest such byte, which is all
// plainRun looks at: a borrow only propagates upwards from a real zero byte).
constexpr std::uint64_t zeroBytes(std::uint64_t w) { return (w - kOnes) & ~w & kHighBits; }

// High bit set in the bytes of `w` that need escaping (exact for the lowest one): control
// characters, quote, backslash and everything from 0x80 on.
constexpr std::uint64_t specialBytes(std::uint64_t w) {
    return (w & kHighBits) | ((w - kOnes * 0x20) & ~w & kHighBits) | zeroBytes(w ^ (kOnes * '"')) |
           zeroBytes(w ^ (kOnes * '\\'));
}

// Bytes copied as they are inside a JSON string: printable ASCII but the quote and backslash.
constexpr bool isPlain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

std::uint64_t load8(const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, sizeof w);
    return w;
}

// plainRun over the last `n` (< 16) bytes, which start at offset `at`: overlapping word loads,
// never a byte loop over them or a read past the end (most strings are short: "int32", "ffi").
std::size_t plainTail(const char* p, std::size_t n, std::size_t at) {
    if (n >= 8) {
        if (const std::uint64_t m = specialBytes(load8(p)); m != 0) {
            return at + static_cast<std::size_t>(std::countr_zero(m)) / 8;
        }
        // The last eight overlap the first eight, which are plain: the lowest flagged byte is past them.
        const std::uint64_t m = specialBytes(load8(p + n - 8));
        return m != 0 ? at + n - 8 + static_cast<std::size_t>(std::countr_zero(m)) / 8 : at + n;
    }
    if (n >= 4) {
        std::uint32_t lo, hi;
        std::memcpy(&lo, p, sizeof lo);
        std::memcpy(&hi, p + n - 4, sizeof hi);
        const std::uint64_t m = specialBytes(std::uint64_t(hi) << 32 | lo);
        if (m == 0) {
            return at + n;
        }
        const auto first = static_cast<std::size_t>(std::countr_zero(m)) / 8;
        return at + (first < 4 ? first : n - 8 + first);
    }
    std::size_t i = 0;
    while (i < n && isPlain(static_cast<unsigned char>(p[i]))) {
        ++i;
    }
    return at + i;
}

#if defined(__SSE2__)
// Bit i set when byte i of the 16 at `p` needs escaping. As signed bytes, everything below 0x20
// and everything from 0x80 on compares less than 0x20.
unsigned specialMask(const char* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i special =
        _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                     _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return static_cast<unsigned>(_mm_movemask_epi8(special));
}
#endif
} // namespace

std::size_t plainRun(std::string_view s, std::size_t from) {
    // Many bytes at a time: JSON lines are mostly plain paths and names, and this scan is what
    // every string of every --format jsonl event goes through.
    std::size_t i = from;
#if defined(__SSE2__)
    // Sixteen at a time where SSE2 is there (every x86-64).
    for (; i + 16 <= s.size(); i += 16) {
        if (const unsigned mask = specialMask(s.data() + i); mask != 0) {
            return i + static_cast<std::size_t>(std::countr_zero(mask));
        }
    }
#else
    for (; i + 16 <= s.size(); i += 8) {
        if (const std::uint64_t m = specialBytes(load8(s.data() + i)); m != 0) {
            return i + static_cast<std::size_t>(std::countr_zero(m)) / 8;
        }
    }
#endif
    return plainTail(s.data() + i, s.size() - i, i);
}

char* writeQuoted(char* out, std::string_view s) {
    static constexpr char kHex[] = "0123456789abcdef";
    *out++ = '"';
    std::size_t i = 0;
    while (i < s.size()) {
        // Plain ASCII needs no escaping: copy the whole run at once.
        const std::size_t run = plainRun(s, i);
        std::memcpy(out, s.data() + i, run - i);
        out += run - i;
        i = run;
        if (i == s.size()) {
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = static_cast<char>(c);
            ++i;
        } else if (c < 0x20) {
            *out++ = '\\';
            switch (c) {
            case '\n': *out++ = 'n'; break;
            case '\t': *out++ = 't'; break;
            case '\r': *out++ = 'r'; break;
            default:
                std::memcpy(out, "u00", 3);
                out += 3;
                *out++ = kHex[c >> 4];
                *out++ = kHex[c & 15];
            }
            ++i;
        } else {
            // Validate one UTF-8 sequence; copy it or write U+FFFD.
            int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            bool ok = len > 0 && i + static_cast<std::size_t>(len) <= s.size();
            for (int k = 1; ok && k < len; ++k) {
                ok = (static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]) & 0xC0) == 0x80;
            }
            if (ok) {
                std::memcpy(out, s.data() + i, static_cast<std::size_t>(len));
                out += len;
                i += static_cast<std::size_t>(len);
            } else {
                std::memcpy(out, "\xEF\xBF\xBD", 3);
                out += 3;
                ++i;
            }
        }
    }
    *out++ = '"';
    return out;
}

void appendQuoted(std::string& out, std::string_view s) {
    if (plainRun(s, 0) == s.size()) {
        out.reserve(out.size() + s.size() + 2);
        out += '"';
        out.append(s);
        out += '"';
        return;
    }
    const std::size_t old = out.size();
    out.resize(old + maxQuotedSize(s.size()));
    char* end = writeQuoted(out.data() + old, s);
    out.resize(static_cast<std::size_t>(end - out.data()));
}

std::string quoted(std::string_view s) {
    std::string out;
    appendQuoted(out, s);
    return out;
}

} // namespace layertrace::tracer::json
