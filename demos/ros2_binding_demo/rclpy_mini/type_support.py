"""check_for_type_support: make a message class fetch its C type support capsules (rclpy.type_support)."""


def check_for_type_support(msg_or_srv_type):
    """Ask the class' metaclass to import its typesupport extension, as rclpy does before creating
    a publisher or subscription; afterwards _CONVERT_FROM_PY and friends are capsules, not None."""
    try:
        import_type_support = msg_or_srv_type.__class__.__import_type_support__
    except AttributeError:
        raise TypeError(f"{msg_or_srv_type!r} is not a generated message class "
                        "(its metaclass has no __import_type_support__)") from None
    if msg_or_srv_type.__class__._TYPE_SUPPORT is None:
        import_type_support()
    if msg_or_srv_type.__class__._TYPE_SUPPORT is None:
        raise ImportError(f"{msg_or_srv_type.__name__}: type support could not be imported")
