"""The C typesupport extension: named capsules, Python <-> C struct conversion, and (de)serialization for the middleware."""
import array
import ctypes
import pathlib
import types

import pytest
from conftest import DEMO

from demo_interfaces import demo_interfaces_s__rosidl_typesupport_c as ts_module
from demo_interfaces.msg import DemoStatus

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.restype = ctypes.c_char_p
_get_name.argtypes = [ctypes.py_object]


# ctypes mirrors of the generated header and of minirmw's type support table: if the generator
# changed the layout, message_size below would disagree with sizeof(DemoStatusC).
class String(ctypes.Structure):
    _fields_ = [("data", ctypes.c_char_p), ("size", ctypes.c_size_t), ("capacity", ctypes.c_size_t)]


class Int32Sequence(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_int32)), ("size", ctypes.c_size_t), ("capacity", ctypes.c_size_t)]


class DemoStatusC(ctypes.Structure):
    _fields_ = [("name", String), ("sequence", ctypes.c_int32), ("temperature", ctypes.c_double),
                ("active", ctypes.c_bool), ("position", ctypes.c_double * 3), ("readings", Int32Sequence)]


class TypeSupport(ctypes.Structure):
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("message_size", ctypes.c_size_t),
        ("init", ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p)),
        ("fini", ctypes.CFUNCTYPE(None, ctypes.c_void_p)),
        ("serialized_size", ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p)),
        ("serialize", ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)),
        ("deserialize", ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)),
    ]


CAPSULES = {
    "create_ros_message_msg__msg__demo_status": b"rosidl_mini.create_ros_message",
    "destroy_ros_message_msg__msg__demo_status": b"rosidl_mini.destroy_ros_message",
    "convert_from_py_msg__msg__demo_status": b"rosidl_mini.convert_from_py",
    "convert_to_py_msg__msg__demo_status": b"rosidl_mini.convert_to_py",
    "type_support_msg__msg__demo_status": b"rosidl_mini.message_type_support",
}


def capsule_pointer(attribute):
    return _get_pointer(getattr(ts_module, attribute), CAPSULES[attribute])


@pytest.fixture(scope="module")
def fns():
    """The capsules' function pointers, called the way _rclpy_pybind11 calls them. PYFUNCTYPE keeps
    the GIL held and raises the Python error a false/NULL return left set."""
    return types.SimpleNamespace(
        create=ctypes.CFUNCTYPE(ctypes.c_void_p)(capsule_pointer("create_ros_message_msg__msg__demo_status")),
        destroy=ctypes.CFUNCTYPE(None, ctypes.c_void_p)(capsule_pointer("destroy_ros_message_msg__msg__demo_status")),
        from_py=ctypes.PYFUNCTYPE(ctypes.c_bool, ctypes.py_object, ctypes.c_void_p)(
            capsule_pointer("convert_from_py_msg__msg__demo_status")),
        to_py=ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p)(
            capsule_pointer("convert_to_py_msg__msg__demo_status")),
        ts=TypeSupport.from_address(capsule_pointer("type_support_msg__msg__demo_status")),
    )


@pytest.fixture
def raw(fns):
    pointer = fns.create()
    assert pointer
    yield pointer
    fns.destroy(pointer)


SAMPLE = dict(name="capteur-\u00e9\u00df", sequence=-7, temperature=-273.15, active=True,
              position=[1.0, -2.5, 1e300], readings=[1, -2, 2**31 - 1, -2**31])


def test_the_extension_is_staged_in_its_package_and_exports_named_capsules():
    assert pathlib.Path(ts_module.__file__).resolve().parent == DEMO.resolve() / "demo_interfaces"
    for attribute, name in CAPSULES.items():
        capsule = getattr(ts_module, attribute)
        assert type(capsule).__name__ == "PyCapsule"
        assert _get_name(capsule) == name


def test_type_support_table_describes_the_c_struct(fns):
    assert fns.ts.type_name == b"demo_interfaces/msg/DemoStatus"
    assert fns.ts.message_size == ctypes.sizeof(DemoStatusC)


def test_convert_from_py_fills_the_c_struct_field_by_field(fns, raw):
    assert fns.from_py(DemoStatus(**SAMPLE), raw)
    c = DemoStatusC.from_address(raw)
    encoded = SAMPLE["name"].encode("utf-8")
    assert (c.name.data, c.name.size) == (encoded, len(encoded))
    assert c.sequence == -7
    assert c.temperature == -273.15
    assert c.active is True
    assert list(c.position) == SAMPLE["position"]
    assert c.readings.size == 4
    assert c.readings.data[:c.readings.size] == SAMPLE["readings"]


def test_convert_to_py_builds_a_new_equal_message(fns, raw):
    msg = DemoStatus(**SAMPLE)
    fns.from_py(msg, raw)
    back = fns.to_py(raw)
    assert type(back) is DemoStatus
    assert back == msg and back is not msg
    assert back.readings.typecode == "i" and back.position.typecode == "d"


def test_an_empty_message_round_trips(fns, raw):
    fns.from_py(DemoStatus(), raw)
    assert fns.to_py(raw) == DemoStatus()


def test_convert_from_py_refuses_other_classes(fns, raw):
    with pytest.raises(TypeError, match="expected a demo_interfaces.msg._demo_status.DemoStatus, got dict"):
        fns.from_py({"name": "x"}, raw)


def test_convert_from_py_rechecks_what_the_c_struct_relies_on(fns, raw):
    # The properties validate; the private slots do not. The C side must not trust them blindly.
    msg = DemoStatus()
    msg._readings = array.array("d", [1.0])
    with pytest.raises(TypeError, match=r"DemoStatus.readings must be array.array\('i'\)"):
        fns.from_py(msg, raw)
    msg = DemoStatus()
    msg._position = array.array("d", [1.0])
    with pytest.raises(ValueError, match="DemoStatus.position must have 3 elements, got 1"):
        fns.from_py(msg, raw)
    msg = DemoStatus()
    msg._sequence = 2**40
    with pytest.raises(OverflowError, match="does not fit in int32"):
        fns.from_py(msg, raw)
    msg = DemoStatus()
    msg._active = 1
    with pytest.raises(TypeError, match="DemoStatus.active must be bool"):
        fns.from_py(msg, raw)


def serialize(fns, raw):
    size = fns.ts.serialized_size(raw)
    buffer = (ctypes.c_uint8 * size)()
    assert fns.ts.serialize(raw, buffer, size)
    return buffer, size


def test_serialize_then_deserialize_reproduces_the_message(fns, raw):
    msg = DemoStatus(**SAMPLE)
    fns.from_py(msg, raw)
    buffer, size = serialize(fns, raw)
    encoded = len(SAMPLE["name"].encode("utf-8"))
    # u32 length + name, int32, float64, bool byte, 3 float64, u32 count + 4 int32
    assert size == 4 + encoded + 4 + 8 + 1 + 24 + 4 + 16
    other = fns.create()
    try:
        fns.from_py(DemoStatus(name="to be replaced", readings=[9, 9, 9]), other)
        assert fns.ts.deserialize(buffer, size, other)
        assert fns.to_py(other) == msg
    finally:
        fns.destroy(other)


def test_serialize_refuses_a_buffer_that_is_too_small(fns, raw):
    fns.from_py(DemoStatus(**SAMPLE), raw)
    size = fns.ts.serialized_size(raw)
    buffer = (ctypes.c_uint8 * size)()
    assert not fns.ts.serialize(raw, buffer, size - 1)


def test_deserialize_rejects_truncated_trailing_and_corrupt_input(fns, raw):
    fns.from_py(DemoStatus(**SAMPLE), raw)
    buffer, size = serialize(fns, raw)
    target = fns.create()
    try:
        for cut in range(size):
            assert not fns.ts.deserialize(buffer, cut, target), f"accepted {cut} of {size} bytes"
        longer = (ctypes.c_uint8 * (size + 1))(*buffer)
        assert not fns.ts.deserialize(longer, size + 1, target)
        bool_offset = 4 + len(SAMPLE["name"].encode("utf-8")) + 4 + 8
        assert buffer[bool_offset] == 1
        buffer[bool_offset] = 2
        assert not fns.ts.deserialize(buffer, size, target)
        # A rejected sample leaves a valid, empty message behind.
        assert fns.to_py(target) == DemoStatus()
    finally:
        fns.destroy(target)
