"""Subscription: the Layer 1 mirror of rclpy.subscription.Subscription (handle, message type, callback)."""


class Subscription:
    """Created by Node.create_subscription(); the executor takes its messages and calls `callback`."""

    def __init__(self, handle, msg_type, topic, callback, qos_depth):
        self.__handle = handle
        self.msg_type = msg_type
        self.topic = topic
        self.callback = callback
        self.qos_depth = qos_depth

    @property
    def topic_name(self):
        return self.topic

    @property
    def handle(self):
        return self.__handle

    def take_message(self):
        """The oldest queued message as a fresh Python object (through _CONVERT_TO_PY), or None."""
        return self.__handle.take_message(self.msg_type)

    def destroy(self):
        self.__handle.destroy()
