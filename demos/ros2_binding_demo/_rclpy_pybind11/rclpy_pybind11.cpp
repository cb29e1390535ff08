// _rclpy_pybind11: the glue between rclpy_mini's Python classes, message capsules and libminirmw.
//
// The miniature of rclpy's _rclpy_pybind11 (rclpy/src/rclpy/{publisher,subscription,wait_set}.cpp):
// it never knows a message's fields. A message class hands over its C type support as PyCapsules
// (_CREATE_ROS_MESSAGE, _CONVERT_FROM_PY, _CONVERT_TO_PY, _DESTROY_ROS_MESSAGE, _TYPE_SUPPORT);
// this module calls the convert functions behind them and passes the C struct to the middleware.
#include <cstdio>
#include <cstring>
#include <memory>
#include <minirmw/minirmw.h>
#include <pybind11/pybind11.h>
#include <rosidl_mini/runtime.h>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace rclpy_mini {

// Raised for every middleware failure; ShutdownError when the context was shut down.
class RMWError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ShutdownError : public RMWError {
public:
    using RMWError::RMWError;
};

[[noreturn]] void throwRmw(minirmw_ret_t ret, const std::string& what) {
    std::string message = what + ": " + minirmw_last_error();
    if (ret == MINIRMW_SHUTDOWN) {
        throw ShutdownError(message);
    }
    throw RMWError(message);
}

// Every middleware object is owned by a shared_ptr whose deleter also holds the parent's
// shared_ptr (subscription -> node -> context): whatever order Python frees its handles in, even
// cycles collected at exit, the middleware sees children destroyed before their parents. A failure
// here means that invariant broke: say so on stderr rather than throw from a destructor.
template <typename T, minirmw_ret_t (*Destroy)(T*)>
std::shared_ptr<T> adopt(T* raw, const char* what, std::shared_ptr<void> parent = nullptr) {
    if (raw == nullptr) {
        throw RMWError(std::string("cannot create ") + what + ": " + minirmw_last_error());
    }
    return std::shared_ptr<T>(raw, [what, parent = std::move(parent)](T* p) {
        if (Destroy(p) != MINIRMW_OK) {
            std::fprintf(stderr, "_rclpy_pybind11: destroying %s failed: %s\n", what, minirmw_last_error());
        }
    });
}

// A function pointer out of a named capsule: POSIX lets void* hold it; memcpy avoids the
// conditionally-supported cast.
template <typename Fn>
Fn functionFromCapsule(const py::object& capsule, const char* name, const std::string& owner) {
    static_assert(sizeof(Fn) == sizeof(void*), "function pointers must fit a capsule's void*");
    if (!PyCapsule_IsValid(capsule.ptr(), name)) {
        throw py::type_error(owner + ": expected a PyCapsule named '" + name + "', got " +
                             std::string(py::str(py::type::of(capsule).attr("__name__"))));
    }
    void* pointer = PyCapsule_GetPointer(capsule.ptr(), name);
    Fn function = nullptr;
    std::memcpy(&function, &pointer, sizeof function);
    return function;
}

// What a message class's capsules resolve to; copied into each publisher/subscription once so
// publish/take only call through plain pointers.
struct MessageType {
    py::object pyType; // keeps the class (and through it the typesupport module) alive
    std::string name;
    rosidl_mini_create_ros_message_t create = nullptr;
    rosidl_mini_destroy_ros_message_t destroy = nullptr;
    rosidl_mini_convert_from_py_t convertFromPy = nullptr;
    rosidl_mini_convert_to_py_t convertToPy = nullptr;
    const minirmw_message_type_support_t* typeSupport = nullptr;

    static MessageType fromClass(const py::object& pymsgType) {
        MessageType type;
        type.pyType = pymsgType;
        type.name = py::str(pymsgType.attr("__qualname__"));
        py::object convertFrom = pymsgType.attr("_CONVERT_FROM_PY");
        if (convertFrom.is_none()) {
            // rclpy raises NoTypeSupportImportedException here; the metaclass was never asked.
            throw py::type_error("type support of " + type.name +
                                 " is not imported: call its metaclass' __import_type_support__() first");
        }
        type.create = functionFromCapsule<rosidl_mini_create_ros_message_t>(
            pymsgType.attr("_CREATE_ROS_MESSAGE"), ROSIDL_MINI_CAPSULE_CREATE, type.name);
        type.destroy = functionFromCapsule<rosidl_mini_destroy_ros_message_t>(
            pymsgType.attr("_DESTROY_ROS_MESSAGE"), ROSIDL_MINI_CAPSULE_DESTROY, type.name);
        type.convertFromPy = functionFromCapsule<rosidl_mini_convert_from_py_t>(
            convertFrom, ROSIDL_MINI_CAPSULE_CONVERT_FROM_PY, type.name);
        type.convertToPy = functionFromCapsule<rosidl_mini_convert_to_py_t>(
            pymsgType.attr("_CONVERT_TO_PY"), ROSIDL_MINI_CAPSULE_CONVERT_TO_PY, type.name);
        py::object typeSupport = pymsgType.attr("_TYPE_SUPPORT");
        if (!PyCapsule_IsValid(typeSupport.ptr(), ROSIDL_MINI_CAPSULE_TYPE_SUPPORT)) {
            throw py::type_error(type.name + "._TYPE_SUPPORT is not a '" ROSIDL_MINI_CAPSULE_TYPE_SUPPORT
                                             "' capsule");
        }
        type.typeSupport = static_cast<const minirmw_message_type_support_t*>(
            PyCapsule_GetPointer(typeSupport.ptr(), ROSIDL_MINI_CAPSULE_TYPE_SUPPORT));
        return type;
    }

    using Owned = std::unique_ptr<void, rosidl_mini_destroy_ros_message_t>;

    Owned createMessage() const {
        Owned message(create(), destroy);
        if (!message) {
            throw std::bad_alloc();
        }
        return message;
    }
};

class Context {
public:
    Context()
        : m_context(adopt<minirmw_context_t, minirmw_context_destroy>(minirmw_context_create(), "context")) {}

    void shutdown() {
        minirmw_ret_t ret = minirmw_context_shutdown(handle());
        if (ret != MINIRMW_OK) {
            throwRmw(ret, "shutdown");
        }
    }
    bool ok() const { return m_context && minirmw_context_is_valid(m_context.get()); }
    void destroy() { m_context.reset(); }

    minirmw_context_t* handle() const {
        if (!m_context) {
            throw py::value_error("the context was destroyed");
        }
        return m_context.get();
    }
    const std::shared_ptr<minirmw_context_t>& shared() const { return m_context; }

private:
    std::shared_ptr<minirmw_context_t> m_context;
};

class Node {
public:
    Node(const std::string& name, const Context& context)
        : m_node(adopt<minirmw_node_t, minirmw_node_destroy>(
              minirmw_node_create(context.handle(), name.c_str()), "node", context.shared())) {}

    std::string name() const { return minirmw_node_get_name(handle()); }
    void destroy() { m_node.reset(); }

    minirmw_node_t* handle() const {
        if (!m_node) {
            throw py::value_error("the node was destroyed");
        }
        return m_node.get();
    }
    const std::shared_ptr<minirmw_node_t>& shared() const { return m_node; }

private:
    std::shared_ptr<minirmw_node_t> m_node;
};

class Publisher {
public:
    Publisher(const Node& node, const py::object& pymsgType, const std::string& topic, std::size_t depth)
        : m_type(MessageType::fromClass(pymsgType)),
          m_publisher(adopt<minirmw_publisher_t, minirmw_publisher_destroy>(
              minirmw_publisher_create(node.handle(), m_type.typeSupport, topic.c_str(), depth), "publisher",
              node.shared())),
          m_topic(topic) {}

    // rclpy's Publisher::publish: Python message -> C struct (the message's own convert function,
    // reached through its capsule) -> middleware, then the C struct is destroyed.
    void publish(const py::object& pymsg) {
        minirmw_publisher_t* publisher = handle();
        if (!py::isinstance(pymsg, m_type.pyType)) {
            throw py::type_error("publisher on '" + m_topic + "' expects " + m_type.name + ", got " +
                                 std::string(py::str(py::type::of(pymsg).attr("__qualname__"))));
        }
        MessageType::Owned message = m_type.createMessage();
        if (!m_type.convertFromPy(pymsg.ptr(), message.get())) {
            throw py::error_already_set();
        }
        minirmw_ret_t ret;
        {
            // Serialization and queueing are plain C: let other Python threads run meanwhile.
            py::gil_scoped_release release;
            ret = minirmw_publish(publisher, message.get());
        }
        if (ret != MINIRMW_OK) {
            throwRmw(ret, "publish on '" + m_topic + "'");
        }
    }

    std::size_t subscriptionCount() const { return minirmw_publisher_get_subscription_count(handle()); }
    const std::string& topic() const { return m_topic; }
    void destroy() { m_publisher.reset(); }

private:
    minirmw_publisher_t* handle() const {
        if (!m_publisher) {
            throw py::value_error("the publisher on '" + m_topic + "' was destroyed");
        }
        return m_publisher.get();
    }

    MessageType m_type;
    std::shared_ptr<minirmw_publisher_t> m_publisher;
    std::string m_topic;
};

class Subscription {
public:
    Subscription(const Node& node, const py::object& pymsgType, const std::string& topic, std::size_t depth)
        : m_type(MessageType::fromClass(pymsgType)),
          m_subscription(adopt<minirmw_subscription_t, minirmw_subscription_destroy>(
              minirmw_subscription_create(node.handle(), m_type.typeSupport, topic.c_str(), depth),
              "subscription", node.shared())),
          m_topic(topic) {}

    // rclpy's Subscription::take_message: middleware -> C struct -> Python message (through the
    // _CONVERT_TO_PY capsule), or None when the queue is empty.
    py::object takeMessage(const py::object& pymsgType) {
        minirmw_subscription_t* subscription = handle();
        if (!pymsgType.is(m_type.pyType)) {
            throw py::type_error("subscription on '" + m_topic + "' carries " + m_type.name);
        }
        MessageType::Owned message = m_type.createMessage();
        bool taken = false;
        minirmw_ret_t ret;
        {
            py::gil_scoped_release release;
            ret = minirmw_take(subscription, message.get(), &taken);
        }
        if (ret != MINIRMW_OK) {
            throwRmw(ret, "take on '" + m_topic + "'");
        }
        if (!taken) {
            return py::none();
        }
        PyObject* pymsg = static_cast<PyObject*>(m_type.convertToPy(message.get()));
        if (pymsg == nullptr) {
            throw py::error_already_set();
        }
        return py::reinterpret_steal<py::object>(pymsg);
    }

    std::size_t queueSize() const { return minirmw_subscription_get_queue_size(handle()); }
    std::uint64_t droppedCount() const { return minirmw_subscription_get_dropped_count(handle()); }
    const std::string& topic() const { return m_topic; }
    void destroy() { m_subscription.reset(); }

    minirmw_subscription_t* handle() const {
        if (!m_subscription) {
            throw py::value_error("the subscription on '" + m_topic + "' was destroyed");
        }
        return m_subscription.get();
    }
    const std::shared_ptr<minirmw_subscription_t>& shared() const { return m_subscription; }

private:
    MessageType m_type;
    std::shared_ptr<minirmw_subscription_t> m_subscription;
    std::string m_topic;
};

class WaitSet {
public:
    WaitSet(const Context& context, std::size_t capacity)
        : m_waitSet(adopt<minirmw_wait_set_t, minirmw_wait_set_destroy>(
              minirmw_wait_set_create(context.handle(), capacity), "wait set", context.shared())) {}

    ~WaitSet() {
        // The C wait set must let go of its subscriptions before they may be destroyed.
        m_waitSet.reset();
        m_entries.clear();
    }
    WaitSet(const WaitSet&) = delete;
    WaitSet& operator=(const WaitSet&) = delete;

    void clear() {
        minirmw_wait_set_clear(m_waitSet.get());
        m_entries.clear();
    }

    std::size_t addSubscription(const Subscription& subscription) {
        std::size_t index = 0;
        minirmw_ret_t ret = minirmw_wait_set_add_subscription(m_waitSet.get(), subscription.handle(), &index);
        if (ret != MINIRMW_OK) {
            throwRmw(ret, "add to wait set");
        }
        m_entries.push_back(subscription.shared());
        return index;
    }

    // True when something is ready, False on timeout; ShutdownError once the context is shut down.
    bool wait(std::int64_t timeoutNs) {
        minirmw_ret_t ret;
        {
            // Blocking in C: other Python threads (a publisher, a signal handler) must keep running.
            py::gil_scoped_release release;
            ret = minirmw_wait(m_waitSet.get(), timeoutNs);
        }
        if (ret == MINIRMW_TIMEOUT) {
            return false;
        }
        if (ret != MINIRMW_OK) {
            throwRmw(ret, "wait");
        }
        return true;
    }

    bool isReady(std::size_t index) const { return minirmw_wait_set_is_ready(m_waitSet.get(), index); }

private:
    std::vector<std::shared_ptr<minirmw_subscription_t>> m_entries;
    std::shared_ptr<minirmw_wait_set_t> m_waitSet;
};

} // namespace rclpy_mini

PYBIND11_MODULE(_rclpy_pybind11, m) {
    using namespace rclpy_mini;
    m.doc() = "rclpy_mini's native half: handles over libminirmw and the publish/take paths through message "
              "capsules";

    auto rmwError = py::register_exception<RMWError>(m, "RMWError", PyExc_RuntimeError);
    py::register_exception<ShutdownError>(m, "ShutdownError", rmwError.ptr());

    py::class_<Context>(m, "Context")
        .def(py::init<>())
        .def("shutdown", &Context::shutdown,
             "Wake every waiter; later publishes and waits raise ShutdownError.")
        .def("ok", &Context::ok)
        .def("destroy", &Context::destroy);

    py::class_<Node>(m, "Node")
        .def(py::init<const std::string&, const Context&>(), py::arg("name"), py::arg("context"))
        .def_property_readonly("name", &Node::name)
        .def("destroy", &Node::destroy);

    py::class_<Publisher>(m, "Publisher")
        .def(py::init<const Node&, const py::object&, const std::string&, std::size_t>(), py::arg("node"),
             py::arg("pymsg_type"), py::arg("topic"), py::arg("depth"))
        .def("publish", &Publisher::publish, py::arg("pymsg"),
             "Convert the message through its _CONVERT_FROM_PY capsule and hand it to the middleware.")
        .def("get_subscription_count", &Publisher::subscriptionCount)
        .def_property_readonly("topic", &Publisher::topic)
        .def("destroy", &Publisher::destroy);

    py::class_<Subscription>(m, "Subscription")
        .def(py::init<const Node&, const py::object&, const std::string&, std::size_t>(), py::arg("node"),
             py::arg("pymsg_type"), py::arg("topic"), py::arg("depth"))
        .def("take_message", &Subscription::takeMessage, py::arg("pymsg_type"),
             "The oldest queued message, converted through _CONVERT_TO_PY, or None.")
        .def("get_queue_size", &Subscription::queueSize)
        .def("get_dropped_count", &Subscription::droppedCount)
        .def_property_readonly("topic", &Subscription::topic)
        .def("destroy", &Subscription::destroy);

    py::class_<WaitSet>(m, "WaitSet")
        .def(py::init<const Context&, std::size_t>(), py::arg("context"), py::arg("capacity"))
        .def("clear", &WaitSet::clear)
        .def("add_subscription", &WaitSet::addSubscription, py::arg("subscription"))
        .def("wait", &WaitSet::wait, py::arg("timeout_ns"))
        .def("is_ready", &WaitSet::isReady, py::arg("index"));
}
