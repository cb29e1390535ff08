"""Node: the Layer 1 mirror of rclpy.node.Node, which creates publishers and subscriptions on a native node."""
from rclpy_mini import _rclpy_pybind11
from rclpy_mini.context import get_default_context
from rclpy_mini.publisher import Publisher
from rclpy_mini.subscription import Subscription
from rclpy_mini.type_support import check_for_type_support


def _depth(qos_profile):
    # rclpy takes a QoSProfile or an int depth; the miniature only has KEEP_LAST depth.
    if not isinstance(qos_profile, int) or isinstance(qos_profile, bool) or qos_profile < 1:
        raise ValueError(f"qos_profile must be a queue depth >= 1, got {qos_profile!r}")
    return qos_profile


class Node:
    def __init__(self, node_name, *, context=None):
        self.context = context or get_default_context()
        self.__handle = _rclpy_pybind11.Node(node_name, self.context.handle)
        self.__publishers = []
        self.__subscriptions = []

    def get_name(self):
        return self.__handle.name

    @property
    def handle(self):
        return self.__handle

    @property
    def publishers(self):
        return iter(self.__publishers)

    @property
    def subscriptions(self):
        return iter(self.__subscriptions)

    def create_publisher(self, msg_type, topic, qos_profile):
        check_for_type_support(msg_type)
        depth = _depth(qos_profile)
        handle = _rclpy_pybind11.Publisher(self.__handle, msg_type, topic, depth)
        publisher = Publisher(handle, msg_type, topic, depth)
        self.__publishers.append(publisher)
        return publisher

    def create_subscription(self, msg_type, topic, callback, qos_profile):
        check_for_type_support(msg_type)
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {type(callback).__name__}")
        depth = _depth(qos_profile)
        handle = _rclpy_pybind11.Subscription(self.__handle, msg_type, topic, depth)
        subscription = Subscription(handle, msg_type, topic, callback, depth)
        self.__subscriptions.append(subscription)
        return subscription

    def destroy_publisher(self, publisher):
        self.__publishers.remove(publisher)
        publisher.destroy()

    def destroy_subscription(self, subscription):
        self.__subscriptions.remove(subscription)
        subscription.destroy()

    def destroy_node(self):
        for entity in self.__publishers + self.__subscriptions:
            entity.destroy()
        self.__publishers.clear()
        self.__subscriptions.clear()
        self.__handle.destroy()
