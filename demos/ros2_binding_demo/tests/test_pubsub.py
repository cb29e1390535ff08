"""Publish/subscribe through rclpy_mini, _rclpy_pybind11 and libminirmw: order, content, queues, errors, lifetimes."""
import ctypes
import threading

import pytest
from conftest import DEMO

import rclpy_mini
from demo_interfaces.msg import DemoStatus
from rclpy_mini import _rclpy_pybind11


def status(i):
    return DemoStatus(name=f"s{i}", sequence=i, temperature=i / 4, active=i % 2 == 1,
                      position=[float(i), 0.0, -float(i)], readings=list(range(i)))


def spin(node, timeout_sec=5.0):
    return rclpy_mini.spin_once(node, executor=rclpy_mini.SingleThreadedExecutor(), timeout_sec=timeout_sec)


def test_messages_arrive_in_publication_order_with_their_content(node):
    received = []
    node.create_subscription(DemoStatus, "order", received.append, 10)
    publisher = node.create_publisher(DemoStatus, "order", 10)
    sent = [status(i) for i in range(6)]
    for msg in sent:
        publisher.publish(msg)
    for _ in sent:
        assert spin(node) == 1
    assert received == sent
    assert all(got is not original for got, original in zip(received, sent))
    assert spin(node, timeout_sec=0) == 0  # nothing left


def test_every_subscription_of_a_topic_gets_its_own_copy_and_others_get_nothing(node):
    first, second, elsewhere = [], [], []
    node.create_subscription(DemoStatus, "fanout", first.append, 10)
    node.create_subscription(DemoStatus, "fanout", second.append, 10)
    node.create_subscription(DemoStatus, "unrelated", elsewhere.append, 10)
    publisher = node.create_publisher(DemoStatus, "fanout", 10)
    assert publisher.get_subscription_count() == 2
    publisher.publish(status(3))
    # One spin_once takes one message from each ready subscription, in creation order.
    assert spin(node) == 2
    assert first == second == [status(3)]
    assert first[0] is not second[0]
    assert elsewhere == []


def test_keep_last_depth_drops_the_oldest_messages(node):
    subscription = node.create_subscription(DemoStatus, "depth", lambda msg: None, 2)
    publisher = node.create_publisher(DemoStatus, "depth", 10)
    for i in range(5):
        publisher.publish(status(i))
    assert subscription.handle.get_queue_size() == 2
    assert subscription.handle.get_dropped_count() == 3
    assert subscription.take_message() == status(3)
    assert subscription.take_message() == status(4)
    assert subscription.take_message() is None


def test_a_message_published_from_another_thread_wakes_a_blocked_spin(node):
    received = []
    node.create_subscription(DemoStatus, "threads", received.append, 10)
    publisher = node.create_publisher(DemoStatus, "threads", 10)
    # The wait releases the GIL, so the publishing thread can run while spin_once blocks.
    thread = threading.Thread(target=publisher.publish, args=(status(9),))
    thread.start()
    assert spin(node, timeout_sec=30) == 1
    thread.join()
    assert received == [status(9)]


def test_publish_refuses_other_message_types(node):
    publisher = node.create_publisher(DemoStatus, "types", 10)
    with pytest.raises(TypeError, match="expected DemoStatus, got dict"):
        publisher.publish({"name": "x"})
    with pytest.raises(TypeError, match="publisher on 'types' expects DemoStatus, got str"):
        publisher.handle.publish("not a message")  # the native check behind the Python one


def test_invalid_field_content_raises_from_the_convert_function(node):
    publisher = node.create_publisher(DemoStatus, "invalid", 10)
    msg = DemoStatus()
    msg._name = b"bytes"  # past the property: the C convert function must catch it
    with pytest.raises(TypeError, match="DemoStatus.name must be str, not bytes"):
        publisher.publish(msg)


def test_bad_qos_and_callback_are_rejected(node):
    with pytest.raises(ValueError, match="queue depth >= 1"):
        node.create_publisher(DemoStatus, "qos", 0)
    with pytest.raises(TypeError, match="callback must be callable"):
        node.create_subscription(DemoStatus, "qos", None, 10)


def test_a_class_that_is_not_a_generated_message_has_no_type_support(node):
    class NotAMessage:
        pass

    with pytest.raises(TypeError, match="not a generated message class"):
        node.create_publisher(NotAMessage, "x", 10)


def test_shutdown_stops_spin_and_later_publishes(context, node):
    publisher = node.create_publisher(DemoStatus, "stop", 10)
    seen = []

    def on_status(msg):
        seen.append(msg.sequence)
        if msg.sequence == 2:
            context.shutdown()

    node.create_subscription(DemoStatus, "stop", on_status, 10)
    for i in range(4):
        publisher.publish(status(i))
    rclpy_mini.spin(node, executor=rclpy_mini.SingleThreadedExecutor())
    assert seen == [0, 1, 2]
    with pytest.raises(_rclpy_pybind11.ShutdownError, match="shut down"):
        publisher.publish(status(5))
    assert issubclass(_rclpy_pybind11.ShutdownError, _rclpy_pybind11.RMWError)


def test_destroyed_handles_raise_instead_of_crashing(node):
    publisher = node.create_publisher(DemoStatus, "gone", 10)
    subscription = node.create_subscription(DemoStatus, "gone", lambda msg: None, 10)
    node.destroy_publisher(publisher)
    node.destroy_subscription(subscription)
    with pytest.raises(ValueError, match="publisher on 'gone' was destroyed"):
        publisher.publish(status(1))
    with pytest.raises(ValueError, match="subscription on 'gone' was destroyed"):
        subscription.take_message()


def test_handles_freed_in_any_order_leave_the_middleware_consistent(context, capfd):
    # A node dropped before its publisher (as garbage collection may do) must not be destroyed
    # under it: the publisher's native handle keeps the node, and the node the context.
    node = rclpy_mini.Node("short_lived", context=context)
    publisher = node.create_publisher(DemoStatus, "order_of_frees", 10)
    del node
    publisher.publish(status(1))
    del publisher
    assert capfd.readouterr().err == ""


class TypeSupport(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("rest", ctypes.c_void_p * 6)]


@pytest.fixture
def minirmw():
    """libminirmw called directly, as plain C: the same library _rclpy_pybind11 links."""
    lib = ctypes.CDLL(str(DEMO / "rclpy_mini" / "libminirmw.so"))
    for name in ("minirmw_context_create", "minirmw_node_create", "minirmw_publisher_create",
                 "minirmw_subscription_create"):
        getattr(lib, name).restype = ctypes.c_void_p
    lib.minirmw_node_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    for name in ("minirmw_publisher_create", "minirmw_subscription_create"):
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    for name in ("minirmw_context_destroy", "minirmw_node_destroy", "minirmw_publisher_destroy"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    lib.minirmw_last_error.restype = ctypes.c_char_p
    return lib


def test_middleware_refuses_a_second_type_on_a_topic_and_out_of_order_destruction(minirmw):
    DemoStatus.__class__.__import_type_support__()
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype = ctypes.c_void_p
    get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
    real = get_pointer(DemoStatus._TYPE_SUPPORT, b"rosidl_mini.message_type_support")
    other = TypeSupport.from_buffer_copy(ctypes.string_at(real, ctypes.sizeof(TypeSupport)))
    other.type_name = b"other_interfaces/msg/Other"

    context = minirmw.minirmw_context_create()
    node = minirmw.minirmw_node_create(context, b"c_node")
    publisher = minirmw.minirmw_publisher_create(node, real, b"typed", 4)
    assert publisher
    assert minirmw.minirmw_subscription_create(node, ctypes.addressof(other), b"typed", 4) is None
    assert minirmw.minirmw_last_error() == (b"topic 'typed' carries demo_interfaces/msg/DemoStatus; "
                                            b"cannot use it with other_interfaces/msg/Other")
    assert minirmw.minirmw_publisher_create(node, real, b"typed", 0) is None
    assert b"depth must be at least 1" in minirmw.minirmw_last_error()
    MINIRMW_BUSY = 5
    assert minirmw.minirmw_node_destroy(node) == MINIRMW_BUSY
    assert minirmw.minirmw_context_destroy(context) == MINIRMW_BUSY
    assert minirmw.minirmw_publisher_destroy(publisher) == 0
    assert minirmw.minirmw_node_destroy(node) == 0
    assert minirmw.minirmw_context_destroy(context) == 0
