"""Publisher: the Layer 1 mirror of rclpy.publisher.Publisher, a thin owner of a native publisher handle."""


class Publisher:
    """Created by Node.create_publisher(); publish() goes straight to _rclpy_pybind11."""

    def __init__(self, handle, msg_type, topic, qos_depth):
        self.__handle = handle
        self.msg_type = msg_type
        self.topic = topic
        self.qos_depth = qos_depth

    def publish(self, msg):
        """Send `msg` to every subscription of the topic: the native glue converts it through the
        message's _CONVERT_FROM_PY capsule and hands the C struct to libminirmw."""
        if not isinstance(msg, self.msg_type):
            raise TypeError(f"expected {self.msg_type.__name__}, got {type(msg).__name__}")
        self.__handle.publish(msg)

    @property
    def topic_name(self):
        return self.topic

    def get_subscription_count(self):
        return self.__handle.get_subscription_count()

    @property
    def handle(self):
        return self.__handle

    def destroy(self):
        self.__handle.destroy()
