"""SingleThreadedExecutor: waits on the nodes' subscriptions in a native wait set and runs their callbacks."""
from rclpy_mini import _rclpy_pybind11


class SingleThreadedExecutor:
    """The miniature of rclpy.executors.SingleThreadedExecutor: spin_once() = build a wait set, wait,
    take one message from each ready subscription and call its callback, in creation order."""

    def __init__(self):
        self._nodes = []

    def add_node(self, node):
        if node not in self._nodes:
            self._nodes.append(node)
            return True
        return False

    def remove_node(self, node):
        if node in self._nodes:
            self._nodes.remove(node)

    def get_nodes(self):
        return list(self._nodes)

    def spin_once(self, timeout_sec=None):
        """Returns how many callbacks ran: 0 on timeout. timeout_sec None waits forever.
        Raises ShutdownError once the context is shut down."""
        subscriptions = [sub for node in self._nodes for sub in node.subscriptions]
        if not subscriptions:
            return 0
        context = self._nodes[0].context
        wait_set = _rclpy_pybind11.WaitSet(context.handle, len(subscriptions))
        indices = [wait_set.add_subscription(sub.handle) for sub in subscriptions]
        timeout_ns = -1 if timeout_sec is None else int(timeout_sec * 1e9)
        if not wait_set.wait(timeout_ns):
            return 0
        ready = [sub for sub, index in zip(subscriptions, indices) if wait_set.is_ready(index)]
        # The wait set lets go of the subscriptions before callbacks may destroy any of them.
        wait_set.clear()
        executed = 0
        for subscription in ready:
            msg = subscription.take_message()
            if msg is not None:
                subscription.callback(msg)
                executed += 1
        return executed

    def spin(self):
        """spin_once() until the context is shut down."""
        while self._nodes and self._nodes[0].context.ok():
            try:
                self.spin_once()
            except _rclpy_pybind11.ShutdownError:
                break
