"""The generated DemoStatus class: defaults, typed properties that validate, __eq__, __repr__ and its capsules."""
import array
import types

import pytest

from demo_interfaces.msg import DemoStatus
from demo_interfaces.msg._demo_status import Metaclass_DemoStatus


def test_defaults_are_the_zero_values_of_each_field_type():
    msg = DemoStatus()
    assert msg.name == ""
    assert msg.sequence == 0
    assert msg.temperature == 0.0 and isinstance(msg.temperature, float)
    assert msg.active is False
    assert msg.position == array.array("d", [0.0, 0.0, 0.0])
    assert msg.readings == array.array("i")


def test_keyword_arguments_set_fields_and_lists_become_typed_arrays():
    msg = DemoStatus(name="sensor", sequence=-5, temperature=1.5, active=True, position=[1.0, 2.0, 3.0],
                     readings=[7, -8])
    assert (msg.name, msg.sequence, msg.temperature, msg.active) == ("sensor", -5, 1.5, True)
    assert msg.position.typecode == "d" and list(msg.position) == [1.0, 2.0, 3.0]
    assert msg.readings.typecode == "i" and list(msg.readings) == [7, -8]


def test_fields_and_slots_come_from_the_msg_file():
    assert DemoStatus.get_fields_and_field_types() == {
        "name": "string", "sequence": "int32", "temperature": "float64", "active": "bool",
        "position": "float64[3]", "readings": "int32[]"}
    assert DemoStatus.__slots__ == ["_name", "_sequence", "_temperature", "_active", "_position", "_readings"]
    with pytest.raises(AttributeError):
        DemoStatus().colour = "red"  # __slots__: no attributes beyond the message's fields


def test_unknown_constructor_field_is_rejected():
    with pytest.raises(TypeError, match="unknown field"):
        DemoStatus(nmae="typo")


@pytest.mark.parametrize("field, value, error, text", [
    ("name", 3, TypeError, "DemoStatus.name must be str, not int"),
    ("sequence", "1", TypeError, "DemoStatus.sequence must be int"),
    ("sequence", True, TypeError, "must be int, not bool"),
    ("sequence", 2**31, ValueError, r"\[-2147483648, 2147483647\]"),
    ("sequence", -2**31 - 1, ValueError, "int32"),
    ("temperature", 20, TypeError, "DemoStatus.temperature must be float, not int"),
    ("active", 1, TypeError, "DemoStatus.active must be bool, not int"),
    ("position", [1.0, 2.0], ValueError, "exactly 3 elements, got 2"),
    ("position", [1.0, 2.0, 3], TypeError, "position elements must be float, not int"),
    ("position", "abc", TypeError, "must be a sequence of float64, not str"),
    ("position", array.array("f", [1.0, 2.0, 3.0]), TypeError, r"array.array\('d'\)"),
    ("readings", [1, 2**31], ValueError, "readings elements must be in"),
    ("readings", 5, TypeError, "must be a sequence of int32, not int"),
    ("readings", array.array("q", [1]), TypeError, r"array.array\('i'\)"),
])
def test_setters_reject_wrong_types_and_ranges(field, value, error, text):
    msg = DemoStatus()
    with pytest.raises(error, match=text):
        setattr(msg, field, value)
    with pytest.raises(error, match=text):
        DemoStatus(**{field: value})


def test_int32_bounds_are_inclusive():
    assert DemoStatus(sequence=2**31 - 1).sequence == 2**31 - 1
    assert DemoStatus(readings=[-2**31]).readings[0] == -2**31


def test_an_array_argument_is_copied_so_the_message_owns_its_storage():
    readings = array.array("i", [1, 2])
    msg = DemoStatus(readings=readings)
    readings.append(3)
    assert list(msg.readings) == [1, 2]


def test_equality_compares_every_field_and_the_class():
    a = DemoStatus(name="x", readings=[1, 2])
    assert a == DemoStatus(name="x", readings=[1, 2])
    assert a != DemoStatus(name="x", readings=[1, 2, 3])
    assert a != DemoStatus(name="y", readings=[1, 2])
    assert a != DemoStatus(name="x", readings=[1, 2], position=[0.0, 0.0, 1.0])
    fake = types.SimpleNamespace(name="x", sequence=0, temperature=0.0, active=False,
                                 position=a.position, readings=a.readings)
    assert a != fake


def test_repr_names_the_interface_type_and_every_field():
    msg = DemoStatus(name="s", sequence=1, temperature=2.5, active=True, position=[1.0, 2.0, 3.0], readings=[4])
    assert repr(msg) == ("demo_interfaces.msg.DemoStatus(name='s', sequence=1, temperature=2.5, active=True, "
                         "position=array('d', [1.0, 2.0, 3.0]), readings=array('i', [4]))")


def test_import_type_support_fills_the_class_level_capsules():
    Metaclass_DemoStatus.__import_type_support__()
    for attribute in ("_CREATE_ROS_MESSAGE", "_CONVERT_FROM_PY", "_CONVERT_TO_PY", "_DESTROY_ROS_MESSAGE",
                      "_TYPE_SUPPORT"):
        capsule = getattr(DemoStatus, attribute)
        assert type(capsule).__name__ == "PyCapsule", attribute
    # The same objects the typesupport extension exports, as rosidl's metaclass copies them.
    from demo_interfaces import demo_interfaces_s__rosidl_typesupport_c as ts
    assert DemoStatus._CONVERT_FROM_PY is ts.convert_from_py_msg__msg__demo_status
    assert DemoStatus._TYPE_SUPPORT is ts.type_support_msg__msg__demo_status
