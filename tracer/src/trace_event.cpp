// Names and layer mapping of the trace event model (roles, kinds) shared by every front end.
#include <layertrace/trace_event.h>

#include <array>

namespace layertrace {

namespace {
constexpr std::array<std::string_view, 9> kRoleNames = {"app", "wrapper", "pylib", "ext", "glue",
                                                       "capi", "ffi", "native", "unknown"};
static_assert(kRoleNames.size() == static_cast<std::size_t>(Role::Unknown) + 1, "one name per Role");

constexpr std::array<std::string_view, 17> kKindNames = {
    "py_call",      "py_return",   "c_call",       "c_return",      "c_raise",   "init_enter",
    "init_exit",    "ffi_call",    "ffi_return",   "closure_enter", "closure_exit",
    "native_enter", "native_exit", "module_load",  "thread_start",  "thread_exit", "dropped"};
static_assert(kKindNames.size() == static_cast<std::size_t>(EventKind::Dropped) + 1, "one name per EventKind");
} // namespace

Layer layerOf(Role role) {
    switch (role) {
    case Role::App:
    case Role::Wrapper:
    case Role::Pylib: return Layer::Python;
    case Role::Ext:
    case Role::Glue:
    case Role::Capi: return Layer::Extension;
    case Role::Ffi:
    case Role::Native: return Layer::Native;
    case Role::Unknown: break;
    }
    // Code we cannot place is most likely a plain native library: the other roles all have
    // positive evidence (a Python file, an extension's exports, the interpreter's symbols).
    return Layer::Native;
}

std::string_view roleName(Role role) {
    const auto index = static_cast<std::size_t>(role);
    return index < kRoleNames.size() ? kRoleNames[index] : std::string_view("unknown");
}

std::optional<Role> roleFromName(std::string_view name) {
    for (std::size_t i = 0; i < kRoleNames.size(); ++i) {
        if (kRoleNames[i] == name) {
            return static_cast<Role>(i);
        }
    }
    return std::nullopt;
}

std::string_view kindName(EventKind kind) {
    const auto index = static_cast<std::size_t>(kind);
    return index < kKindNames.size() ? kKindNames[index] : std::string_view("unknown");
}

bool isEnter(EventKind kind) {
    switch (kind) {
    case EventKind::PyCall:
    case EventKind::CCall:
    case EventKind::InitEnter:
    case EventKind::FfiCall:
    case EventKind::ClosureEnter:
    case EventKind::NativeEnter: return true;
    default: return false;
    }
}

bool isExit(EventKind kind) {
    switch (kind) {
    case EventKind::PyReturn:
    case EventKind::CReturn:
    case EventKind::CRaise:
    case EventKind::InitExit:
    case EventKind::FfiReturn:
    case EventKind::ClosureExit:
    case EventKind::NativeExit: return true;
    default: return false;
    }
}

void CodeRef::clear() {
    role = Role::Unknown;
    module.clear();
    modulePath.clear();
    symbol.clear();
    address = 0;
    reason.clear();
}

void TraceEvent::clear() {
    // Field by field, in declaration order (keep in step with trace_event.h): assigning a fresh
    // TraceEvent would free every string's buffer, which is what this avoids.
    seq = 0;
    tsNs = 0;
    tid = 0;
    kind = EventKind::NativeEnter;
    role = Role::Unknown;
    module.clear();
    modulePath.clear();
    symbol.clear();
    pyFile.clear();
    pyLine = 0;
    args.clear();
    ret.reset();
    stack.clear();
    depth = 0;
    durationNs = 0;
    raised = false;
    dropped = 0;
    reason.clear();
    address = 0;
    pyName.clear();
    caller.clear();
    target.clear();
    stackMerged = false;
    stackUnmerged = false;
    unwound = false;
    lost = false;
    sourceFile.clear();
    sourceLine = 0;
}

} // namespace layertrace
