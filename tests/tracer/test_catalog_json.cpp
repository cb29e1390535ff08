// JSON reader and demo catalog tests: the real catalog loads; malformed input names the offset.
#include <layertrace/catalog.h>
#include <layertrace/errors.h>
#include <layertrace/json.h>

#include <gtest/gtest.h>

using namespace layertrace;
using namespace layertrace::tracer;

TEST(Json, ParsesValues) {
    const json::Value v = json::parse(R"({"a": [1, -2.5e1, true, false, null], "s": "x\u00e9\n\"", "o": {}})");
    ASSERT_TRUE(v.isObject());
    const auto& a = v.find("a")->asArray();
    ASSERT_EQ(a.size(), 5u);
    EXPECT_EQ(a[0].asNumber(), 1);
    EXPECT_EQ(a[1].asNumber(), -25);
    EXPECT_TRUE(a[2].asBool());
    EXPECT_TRUE(a[4].isNull());
    EXPECT_EQ(v.find("s")->asString(), "x\xc3\xa9\n\"");
    EXPECT_TRUE(v.find("o")->asObject().empty());
    EXPECT_EQ(v.find("missing"), nullptr);
    EXPECT_EQ(json::quoted("a\"b\\c\x01"), "\"a\\\"b\\\\c\\u0001\"");
}

TEST(Json, ErrorsNameTheOffset) {
    auto offsetOf = [](const std::string& text) -> std::uint64_t {
        try {
            json::parse(text, "t.json");
        } catch (const FormatError& e) {
            EXPECT_EQ(e.source(), "t.json");
            return e.offset();
        }
        ADD_FAILURE() << "accepted: " << text;
        return 0;
    };
    EXPECT_EQ(offsetOf("{\"a\" 1}"), 5u);
    EXPECT_EQ(offsetOf("[1, 2"), 5u);
    EXPECT_EQ(offsetOf("[1] x"), 4u);
    EXPECT_EQ(offsetOf("\"abc"), 4u);
    EXPECT_EQ(offsetOf("tru"), 0u);
    EXPECT_THROW(json::parse("[1]").asObject(), FormatError);
}

TEST(Catalog, LoadsTheRealCatalog) {
    const Catalog cat = Catalog::load(CATALOG_JSON);
    EXPECT_EQ(cat.schema, 1);
    EXPECT_GE(cat.demos.size(), 7u);
    const Demo* d = cat.find("ctypes_complex_struct");
    ASSERT_NE(d, nullptr);
    EXPECT_EQ(d->resolvedArgv("/usr/bin/python3").front(), "/usr/bin/python3");
    EXPECT_EQ(cat.find("no_such_demo"), nullptr);
    EXPECT_EQ(cat.demoDir(*d), cat.demosDir + "/ctypes_complex_struct");
    for (const auto& demo : cat.demos) {
        EXPECT_FALSE(demo.argv.empty()) << demo.name;
        for (const auto& path : demo.paths) {
            EXPECT_FALSE(path.hops.empty()) << demo.name << ": " << path.name;
            for (const auto& hop : path.hops) {
                EXPECT_TRUE(hop.role.has_value()) << demo.name << ": " << path.name;
            }
        }
    }
}

TEST(Catalog, HopPatterns) {
    HopPattern ffi;
    ffi.role = Role::Ffi;
    ffi.modules = {"libffi.so*", "_cffi_backend*"};
    ffi.symbols = {"ffi_call*", "cffistatic_ffi_call"};
    EXPECT_TRUE(ffi.matches(Role::Ffi, "libffi.so.8", "ffi_call"));
    EXPECT_TRUE(ffi.matches(Role::Ffi, "_cffi_backend.cpython-311-x86_64-linux-gnu.so", "cffistatic_ffi_call"));
    EXPECT_FALSE(ffi.matches(Role::Native, "libffi.so.8", "ffi_call"));
    EXPECT_FALSE(ffi.matches(Role::Ffi, "libffi.so.8", "ffi_prep_cif"));
    HopPattern method;
    method.symbols = {"publish"};
    EXPECT_TRUE(method.matches(Role::Wrapper, "rclpy_mini/publisher.py", "Publisher.publish"));
    EXPECT_TRUE(method.matches(Role::Wrapper, "rclpy_mini/publisher.py", "publish"));
    EXPECT_FALSE(method.matches(Role::Wrapper, "rclpy_mini/publisher.py", "Publisher.publish_all"));
    HopPattern ext;
    ext.role = Role::Ext;
    ext.modules = {"_ctypes*"};
    EXPECT_TRUE(ext.matches(Role::Ext, "_ctypes.cpython-311-x86_64-linux-gnu.so", "")); // no symbol glob: any
}

TEST(Catalog, RejectsBadCatalogs) {
    EXPECT_THROW(Catalog::parse(R"({"schema": 2, "demos": []})", "c.json", "."), FormatError);
    EXPECT_THROW(Catalog::parse(R"({"schema": 1, "demos": [{"name": "x"}]})", "c.json", "."), FormatError);
    try {
        Catalog::parse(R"({"schema": 1, "demos": [{"name": "x", "run": {"argv": ["a"]},
                       "paths": [{"name": "p", "hops": [{"role": "banana"}]}]}]})",
                       "c.json", ".");
        FAIL();
    } catch (const FormatError& e) {
        EXPECT_NE(std::string(e.what()).find("unknown role \"banana\""), std::string::npos) << e.what();
    }
    EXPECT_THROW(Catalog::load("/nonexistent/catalog.json"), IoError);
}

TEST(EventModel, NamesRoundTrip) {
    for (int r = 0; r <= static_cast<int>(Role::Unknown); ++r) {
        const auto role = static_cast<Role>(r);
        EXPECT_EQ(roleFromName(roleName(role)), role);
    }
    EXPECT_FALSE(roleFromName("banana").has_value());
    EXPECT_EQ(layerOf(Role::Wrapper), Layer::Python);
    EXPECT_EQ(layerOf(Role::Glue), Layer::Extension);
    EXPECT_EQ(layerOf(Role::Ffi), Layer::Native);
    EXPECT_EQ(kindName(EventKind::FfiCall), "ffi_call");
    EXPECT_EQ(kindName(EventKind::Dropped), "dropped");
    EXPECT_TRUE(isEnter(EventKind::ClosureEnter));
    EXPECT_TRUE(isExit(EventKind::CRaise));
    EXPECT_FALSE(isEnter(EventKind::Dropped));
    EXPECT_FALSE(isExit(EventKind::ModuleLoad));
}
