"""rclpy_mini: a miniature of rclpy's Layer 1 API (init, create_node, spin_once, spin) over _rclpy_pybind11."""
from rclpy_mini.context import Context, get_default_context
from rclpy_mini.executors import SingleThreadedExecutor
from rclpy_mini.node import Node

__all__ = ["Context", "Node", "SingleThreadedExecutor", "create_node", "get_default_context", "init", "ok",
           "shutdown", "spin", "spin_once"]

_global_executor = None


def init(*, context=None):
    """Start the (default) context, as rclpy.init() does; must come before create_node()."""
    (context or get_default_context()).init()


def shutdown(*, context=None):
    """Shut the context down: spin() returns and later publishes raise ShutdownError."""
    global _global_executor
    (context or get_default_context()).shutdown()
    _global_executor = None


def ok(*, context=None):
    return (context or get_default_context()).ok()


def create_node(node_name, *, context=None):
    return Node(node_name, context=context)


def get_global_executor():
    global _global_executor
    if _global_executor is None:
        _global_executor = SingleThreadedExecutor()
    return _global_executor


def spin_once(node, *, executor=None, timeout_sec=None):
    """Wait for one ready subscription of `node` and run one callback (rclpy.spin_once)."""
    executor = executor or get_global_executor()
    executor.add_node(node)
    try:
        return executor.spin_once(timeout_sec=timeout_sec)
    finally:
        executor.remove_node(node)


def spin(node, *, executor=None):
    """Run callbacks until the node's context is shut down (rclpy.spin)."""
    executor = executor or get_global_executor()
    executor.add_node(node)
    try:
        executor.spin()
    finally:
        executor.remove_node(node)
