"""rosidl_mini's generator: reads .msg files and writes the Python message classes, the C structs and the C typesupport extension."""
# The build runs this with the configured interpreter (add_custom_command). It plays the parts of
# rosidl_generator_py (the _<name>.py classes), rosidl_generator_c (the struct header) and
# rosidl_typesupport_c + the generator_py C half (the extension whose convert functions travel as
# PyCapsules), collapsed into one script and one extension per package.
#
# Exit codes: 0 written, 2 bad command line or bad .msg file (one line naming file:line).
import argparse
import pathlib
import re
import sys
from dataclasses import dataclass
from typing import Optional


class MsgError(Exception):
    """A .msg file the generator cannot accept; str() is the one-line message for the user."""


@dataclass(frozen=True)
class Primitive:
    msg_name: str      # spelling in .msg files
    c_type: str        # C member type
    seq_name: str      # rosidl_mini__<seq_name>__Sequence
    typecode: Optional[str]  # array.array typecode; None: not allowed in arrays/sequences
    kind: str          # 'int', 'float', 'bool', 'string'
    low: Optional[float] = None
    high: Optional[float] = None


PRIMITIVES = {p.msg_name: p for p in (
    Primitive("bool", "bool", "boolean", None, "bool"),
    Primitive("uint8", "uint8_t", "uint8", "B", "int", 0, 2**8 - 1),
    Primitive("int32", "int32_t", "int32", "i", "int", -2**31, 2**31 - 1),
    Primitive("uint32", "uint32_t", "uint32", "I", "int", 0, 2**32 - 1),
    Primitive("int64", "int64_t", "int64", "q", "int", -2**63, 2**63 - 1),
    Primitive("float32", "float", "float", "f", "float", -3.402823466e+38, 3.402823466e+38),
    Primitive("float64", "double", "double", "d", "float"),
    Primitive("string", "rosidl_mini__String", "", None, "string"),
)}

FIELD_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
MSG_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
TYPE_SPEC = re.compile(r"^(?P<base>[a-z0-9]+)(?P<array>\[(?P<size>[0-9]*)\])?$")


@dataclass(frozen=True)
class Field:
    name: str
    type: Primitive
    array_size: Optional[int]  # fixed-size array T[N]
    is_sequence: bool          # unbounded sequence T[]

    @property
    def msg_spelling(self):
        if self.array_size is not None:
            return f"{self.type.msg_name}[{self.array_size}]"
        return self.type.msg_name + ("[]" if self.is_sequence else "")

    @property
    def is_array_like(self):
        return self.array_size is not None or self.is_sequence


@dataclass(frozen=True)
class Message:
    package: str
    name: str
    fields: tuple

    @property
    def snake(self):
        # rosidl's convert_camel_case_to_lower_case_underscore: DemoStatus -> demo_status
        return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", self.name).lower()

    @property
    def c_struct(self):
        return f"{self.package}__msg__{self.name}"

    @property
    def c_prefix(self):  # the lower-case prefix rosidl_generator_py uses for convert functions
        return f"{self.package}__msg__{self.snake}"

    @property
    def type_name(self):
        return f"{self.package}/msg/{self.name}"


def parse_msg(path, package):
    """Reads one .msg file: one `type name` per line, `#` comments, no constants or defaults."""
    name = path.stem
    if not MSG_NAME.match(name):
        raise MsgError(f"{path}: message name '{name}' must be CamelCase (e.g. DemoStatus.msg)")
    fields = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        where = f"{path}:{number}"
        if "=" in line:
            raise MsgError(f"{where}: constants ({line!r}) are not supported by this miniature")
        if len(parts) != 2:
            raise MsgError(f"{where}: expected '<type> <name>', got {raw.strip()!r} "
                           "(constants and default values are not supported by this miniature)")
        spec, field_name = parts
        match = TYPE_SPEC.match(spec)
        if not match or match.group("base") not in PRIMITIVES:
            raise MsgError(f"{where}: unknown type {spec!r}; supported: {', '.join(PRIMITIVES)} "
                           "and numeric T[N] / T[]")
        primitive = PRIMITIVES[match.group("base")]
        array_size, is_sequence = None, False
        if match.group("array") is not None:
            if primitive.typecode is None:
                raise MsgError(f"{where}: arrays and sequences of {primitive.msg_name} are not supported, "
                               "only of numeric types")
            if match.group("size"):
                array_size = int(match.group("size"))
                if array_size == 0:
                    raise MsgError(f"{where}: a fixed-size array needs at least one element")
            else:
                is_sequence = True
        if not FIELD_NAME.match(field_name):
            raise MsgError(f"{where}: field name {field_name!r} must be lower_case_with_underscores")
        if any(f.name == field_name for f in fields):
            raise MsgError(f"{where}: field {field_name!r} is defined twice")
        fields.append(Field(field_name, primitive, array_size, is_sequence))
    if not fields:
        raise MsgError(f"{path}: a message needs at least one field")
    return Message(package, name, tuple(fields))


# ---------------------------------------------------------------------------------------------
# Python: rosidl_generator_py's _<snake>.py
# ---------------------------------------------------------------------------------------------

def py_default(field):
    t = field.type
    if field.array_size is not None:
        zero = "0.0" if t.kind == "float" else "0"
        return f"array.array({t.typecode!r}, [{zero}] * {field.array_size})"
    if field.is_sequence:
        return f"array.array({t.typecode!r})"
    return {"int": "int()", "float": "float()", "bool": "bool()", "string": "str()"}[t.kind]


def py_element_check(msg, field, var, indent):
    """Lines that validate one scalar `var` of the field's element type."""
    t = field.type
    pad = " " * indent
    label = f"{msg.name}.{field.name}" + (" elements" if field.is_array_like else "")
    lines = []
    if t.kind == "int":
        lines += [f"{pad}if not isinstance({var}, int) or isinstance({var}, bool):",
                  f"{pad}    raise TypeError(f\"{label} must be int, not {{type({var}).__name__}}\")",
                  f"{pad}if not {int(t.low)} <= {var} <= {int(t.high)}:",
                  f"{pad}    raise ValueError(f\"{label} must be in [{int(t.low)}, {int(t.high)}] "
                  f"({t.msg_name}), got {{{var}}}\")"]
    elif t.kind == "float":
        lines += [f"{pad}if not isinstance({var}, float):",
                  f"{pad}    raise TypeError(f\"{label} must be float, not {{type({var}).__name__}}\")"]
        if t.low is not None:
            lines += [f"{pad}if not (-{t.high!r} <= {var} <= {t.high!r} or math.isinf({var}) or math.isnan({var})):",
                      f"{pad}    raise ValueError(f\"{label} must fit in {t.msg_name}, got {{{var}}}\")"]
    elif t.kind == "bool":
        lines += [f"{pad}if not isinstance({var}, bool):",
                  f"{pad}    raise TypeError(f\"{label} must be bool, not {{type({var}).__name__}}\")"]
    else:
        lines += [f"{pad}if not isinstance({var}, str):",
                  f"{pad}    raise TypeError(f\"{label} must be str, not {{type({var}).__name__}}\")"]
    return lines


def py_setter_body(msg, field):
    t = field.type
    if not field.is_array_like:
        return py_element_check(msg, field, "value", 8) + [f"        self._{field.name} = value"]
    label = f"{msg.name}.{field.name}"
    lines = [
        f"        if isinstance(value, array.array):",
        f"            if value.typecode != {t.typecode!r}:",
        f"                raise TypeError(f\"{label} must be array.array({t.typecode!r}) ({t.msg_name}), \"",
        f"                                f\"not array.array({{value.typecode!r}})\")",
        f"            value = array.array({t.typecode!r}, value)  # a copy: the message owns its storage",
        f"        elif isinstance(value, (str, bytes)) or not isinstance(value, collections.abc.Iterable):",
        f"            raise TypeError(f\"{label} must be a sequence of {t.msg_name}, not {{type(value).__name__}}\")",
        f"        else:",
        f"            items = list(value)",
        f"            for item in items:",
    ]
    lines += py_element_check(msg, field, "item", 16)
    lines += [f"            value = array.array({t.typecode!r}, items)"]
    if field.array_size is not None:
        lines += [f"        if len(value) != {field.array_size}:",
                  f"            raise ValueError(f\"{label} must have exactly {field.array_size} elements, "
                  f"got {{len(value)}}\")"]
    lines += [f"        self._{field.name} = value"]
    return lines


def generate_python(msg):
    slots = ", ".join(repr("_" + f.name) for f in msg.fields)
    types = ", ".join(f"{f.name!r}: {f.msg_spelling!r}" for f in msg.fields)
    needs_array = any(f.is_array_like for f in msg.fields)
    needs_math = any(f.type.kind == "float" and f.type.low is not None for f in msg.fields)
    out = [
        f'"""Generated from msg/{msg.name}.msg by rosidl_mini (rosidl_generator_py\'s role); do not edit."""',
        "import builtins",
    ]
    if needs_array:
        out += ["import array", "import collections.abc"]
    out += ["import importlib"]
    if needs_math:
        out += ["import math"]
    out += [
        "",
        "",
        f"class Metaclass_{msg.name}(type):",
        f'    """Metaclass of message \'{msg.name}\': holds the capsules of its C type support."""',
        "",
        "    _CREATE_ROS_MESSAGE = None",
        "    _CONVERT_FROM_PY = None",
        "    _CONVERT_TO_PY = None",
        "    _DESTROY_ROS_MESSAGE = None",
        "    _TYPE_SUPPORT = None",
        "",
        "    @classmethod",
        "    def __import_type_support__(cls):",
        "        # Called by rclpy_mini when a publisher or subscription is created, as rclpy's",
        "        # check_for_type_support() does: only then is the C extension imported.",
        f"        module = importlib.import_module('{msg.package}.{msg.package}_s__rosidl_typesupport_c')",
        f"        cls._CREATE_ROS_MESSAGE = module.create_ros_message_msg__msg__{msg.snake}",
        f"        cls._CONVERT_FROM_PY = module.convert_from_py_msg__msg__{msg.snake}",
        f"        cls._CONVERT_TO_PY = module.convert_to_py_msg__msg__{msg.snake}",
        f"        cls._TYPE_SUPPORT = module.type_support_msg__msg__{msg.snake}",
        f"        cls._DESTROY_ROS_MESSAGE = module.destroy_ros_message_msg__msg__{msg.snake}",
        "",
        "",
        f"class {msg.name}(metaclass=Metaclass_{msg.name}):",
        f'    """Message class \'{msg.name}\' ({msg.type_name})."""',
        "",
        f"    __slots__ = [{slots}]",
        "",
        f"    _fields_and_field_types = {{{types}}}",
        "",
        "    def __init__(self, **kwargs):",
        "        unknown = sorted(key for key in kwargs if '_' + key not in self.__slots__)",
        "        if unknown:",
        f"            raise TypeError(f\"{msg.name}() got unknown field(s): {{', '.join(unknown)}}\")",
    ]
    for f in msg.fields:
        out.append(f"        self.{f.name} = kwargs.get({f.name!r}, {py_default(f)})")
    out += [
        "",
        "    def __repr__(self):",
        "        typename = self.__class__.__module__.split('.')",
        "        typename.pop()",
        "        typename.append(self.__class__.__name__)",
        "        args = ', '.join(f'{slot[1:]}={getattr(self, slot)!r}' for slot in self.__slots__)",
        "        return f\"{'.'.join(typename)}({args})\"",
        "",
        "    def __eq__(self, other):",
        "        if not isinstance(other, self.__class__):",
        "            return False",
    ]
    for f in msg.fields:
        out += [f"        if self.{f.name} != other.{f.name}:", "            return False"]
    out += [
        "        return True",
        "",
        "    @classmethod",
        "    def get_fields_and_field_types(cls):",
        "        from copy import copy",
        "        return copy(cls._fields_and_field_types)",
    ]
    for f in msg.fields:
        out += [
            "",
            "    @builtins.property",
            f"    def {f.name}(self):",
            f'        """Message field \'{f.name}\' ({f.msg_spelling})."""',
            f"        return self._{f.name}",
            "",
            f"    @{f.name}.setter",
            f"    def {f.name}(self, value):",
        ]
        out += py_setter_body(msg, f)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# C: the struct header (rosidl_generator_c's detail/<snake>__struct.h)
# ---------------------------------------------------------------------------------------------

def c_member(field):
    t = field.type
    if field.array_size is not None:
        return f"    {t.c_type} {field.name}[{field.array_size}];"
    if field.is_sequence:
        return f"    rosidl_mini__{t.seq_name}__Sequence {field.name};"
    return f"    {t.c_type} {field.name};"


def generate_struct_header(msg):
    guard = f"{msg.package}__MSG__DETAIL__{msg.snake}__STRUCT_H_".upper()
    out = [
        f"/* Generated from msg/{msg.name}.msg by rosidl_mini: the C struct of {msg.type_name}; do not edit. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <rosidl_mini/runtime.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"typedef struct {msg.c_struct} {{",
    ]
    out += [c_member(f) for f in msg.fields]
    out += [
        f"}} {msg.c_struct};",
        "",
        f"bool {msg.c_struct}__init({msg.c_struct} *msg);",
        f"void {msg.c_struct}__fini({msg.c_struct} *msg);",
        f"{msg.c_struct} *{msg.c_struct}__create(void);",
        f"void {msg.c_struct}__destroy({msg.c_struct} *msg);",
        "",
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* {guard} */",
    ]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# C: the typesupport extension (conversion, serialization, capsules)
# ---------------------------------------------------------------------------------------------

C_PRELUDE = """\
/* Byte cursors for the wire format: little-endian host layout, u32 lengths before strings and
 * sequences. In-process only, so no byte swapping (a real rmw would write CDR). */
typedef struct {
    uint8_t *p;
    size_t left;
} mini_writer;

typedef struct {
    const uint8_t *p;
    size_t left;
} mini_reader;

static bool mini_put(mini_writer *w, const void *src, size_t n) {
    if (n > w->left) {
        return false;
    }
    if (n > 0) {
        memcpy(w->p, src, n);
    }
    w->p += n;
    w->left -= n;
    return true;
}

static bool mini_get(mini_reader *r, void *dst, size_t n) {
    if (n > r->left) {
        return false;
    }
    if (n > 0) {
        memcpy(dst, r->p, n);
    }
    r->p += n;
    r->left -= n;
    return true;
}

static bool mini_put_length(mini_writer *w, size_t n) {
    if (n > UINT32_MAX) {
        return false;
    }
    uint32_t length = (uint32_t)n;
    return mini_put(w, &length, sizeof length);
}

/* A function pointer travels in a capsule's void*: POSIX guarantees the round trip (dlsym relies
 * on it) and memcpy says so without the cast ISO C forbids. */
static PyObject *mini_function_capsule(const void *function_pointer, size_t size, const char *name) {
    void *pointer = NULL;
    memcpy(&pointer, function_pointer, size);
    return PyCapsule_New(pointer, name, NULL);
}
"""


def c_init_lines(msg, field):
    t = field.type
    if field.array_size is not None:
        return [f"    memset(msg->{field.name}, 0, sizeof msg->{field.name});"]
    if field.is_sequence:
        return [f"    msg->{field.name}.data = NULL;", f"    msg->{field.name}.size = 0;",
                f"    msg->{field.name}.capacity = 0;"]
    if t.kind == "string":
        # fini frees whatever the earlier fields allocated (the struct was zeroed first).
        return [f"    if (!rosidl_mini__String__init(&msg->{field.name})) {{",
                f"        {msg.c_struct}__fini(msg);",
                "        return false;", "    }"]
    return [f"    msg->{field.name} = {'false' if t.kind == 'bool' else '0'};"]


def c_fini_lines(field):
    if field.is_sequence:
        return [f"    free(msg->{field.name}.data);", f"    msg->{field.name}.data = NULL;",
                f"    msg->{field.name}.size = 0;", f"    msg->{field.name}.capacity = 0;"]
    if field.type.kind == "string":
        return [f"    rosidl_mini__String__fini(&msg->{field.name});"]
    return []


def c_size_expr(field):
    t = field.type
    if field.array_size is not None:
        return f"sizeof msg->{field.name}"
    if field.is_sequence:
        return f"sizeof(uint32_t) + msg->{field.name}.size * sizeof(*msg->{field.name}.data)"
    if t.kind == "string":
        return f"sizeof(uint32_t) + msg->{field.name}.size"
    if t.kind == "bool":
        return "1"
    return f"sizeof msg->{field.name}"


def c_serialize_lines(field):
    t = field.type
    n = field.name
    if field.array_size is not None:
        return [f"    ok = ok && mini_put(&w, msg->{n}, sizeof msg->{n});"]
    if field.is_sequence:
        return [f"    ok = ok && mini_put_length(&w, msg->{n}.size);",
                f"    ok = ok && mini_put(&w, msg->{n}.data, msg->{n}.size * sizeof(*msg->{n}.data));"]
    if t.kind == "string":
        return [f"    ok = ok && mini_put_length(&w, msg->{n}.size);",
                f"    ok = ok && mini_put(&w, msg->{n}.data, msg->{n}.size);"]
    if t.kind == "bool":
        return ["    {", f"        uint8_t flag = msg->{n} ? 1 : 0;", "        ok = ok && mini_put(&w, &flag, 1);",
                "    }"]
    return [f"    ok = ok && mini_put(&w, &msg->{n}, sizeof msg->{n});"]


def c_deserialize_lines(field):
    t = field.type
    n = field.name
    if field.array_size is not None:
        return [f"    if (!mini_get(&r, msg->{n}, sizeof msg->{n})) {{", "        goto fail;", "    }"]
    if field.is_sequence:
        return [
            "    {",
            "        uint32_t count = 0;",
            "        if (!mini_get(&r, &count, sizeof count) ||",
            f"            (size_t)count > r.left / sizeof(*msg->{n}.data) ||",
            f"            !rosidl_mini__sequence_resize((void **)&msg->{n}.data, &msg->{n}.size, &msg->{n}.capacity,",
            f"                                          sizeof(*msg->{n}.data), count) ||",
            f"            !mini_get(&r, msg->{n}.data, (size_t)count * sizeof(*msg->{n}.data))) {{",
            "            goto fail;",
            "        }",
            "    }",
        ]
    if t.kind == "string":
        return [
            "    {",
            "        uint32_t length = 0;",
            "        if (!mini_get(&r, &length, sizeof length) || (size_t)length > r.left ||",
            f"            !rosidl_mini__String__assignn(&msg->{n}, (const char *)r.p, length)) {{",
            "            goto fail;",
            "        }",
            "        r.p += length;",
            "        r.left -= length;",
            "    }",
        ]
    if t.kind == "bool":
        return ["    {", "        uint8_t flag = 0;", "        if (!mini_get(&r, &flag, 1) || flag > 1) {",
                "            goto fail;", "        }", f"        msg->{n} = flag == 1;", "    }"]
    return [f"    if (!mini_get(&r, &msg->{n}, sizeof msg->{n})) {{", "        goto fail;", "    }"]


def c_from_py_scalar(msg, field):
    """Lines converting `field` (a PyObject*, borrowed from the attribute) into msg->name."""
    t = field.type
    n = field.name
    label = f"{msg.name}.{n}"
    if t.kind == "string":
        return [
            "        if (!PyUnicode_Check(field)) {",
            f"            PyErr_Format(PyExc_TypeError, \"{label} must be str, not %s\", Py_TYPE(field)->tp_name);",
            "            return false;",
            "        }",
            "        Py_ssize_t size = 0;",
            "        const char *utf8 = PyUnicode_AsUTF8AndSize(field, &size);",
            f"        if (utf8 == NULL || !rosidl_mini__String__assignn(&ros_message->{n}, utf8, (size_t)size)) {{",
            "            if (!PyErr_Occurred()) {",
            "                PyErr_NoMemory();",
            "            }",
            "            return false;",
            "        }",
        ]
    if t.kind == "bool":
        return [
            "        if (!PyBool_Check(field)) {",
            f"            PyErr_Format(PyExc_TypeError, \"{label} must be bool, not %s\", Py_TYPE(field)->tp_name);",
            "            return false;",
            "        }",
            f"        ros_message->{n} = field == Py_True;",
        ]
    if t.kind == "float":
        return [
            "        double value = PyFloat_AsDouble(field);",
            "        if (value == -1.0 && PyErr_Occurred()) {",
            "            return false;",
            "        }",
            f"        ros_message->{n} = ({t.c_type})value;",
        ]
    return [
        "        long long value = PyLong_AsLongLong(field);",
        "        if (value == -1 && PyErr_Occurred()) {",
        "            return false;",
        "        }",
        f"        if (value < {int(t.low)}LL || value > {int(t.high)}LL) {{",
        f"            PyErr_Format(PyExc_OverflowError, \"{label} = %lld does not fit in {t.msg_name}\", value);",
        "            return false;",
        "        }",
        f"        ros_message->{n} = ({t.c_type})value;",
    ]


def c_from_py_array(msg, field):
    """Arrays and sequences arrive as array.array: the buffer protocol gives their raw storage."""
    t = field.type
    n = field.name
    label = f"{msg.name}.{n}"
    lines = [
        "        Py_buffer view;",
        "        if (PyObject_GetBuffer(field, &view, PyBUF_FORMAT | PyBUF_ND) != 0) {",
        "            return false;",
        "        }",
        f"        const size_t element_size = sizeof(*ros_message->{n}{'.data' if field.is_sequence else ''});",
        f"        if (view.itemsize != (Py_ssize_t)element_size || view.format == NULL ||",
        f"            strcmp(view.format, \"{t.typecode}\") != 0) {{",
        f"            PyErr_Format(PyExc_TypeError, \"{label} must be array.array('{t.typecode}') ({t.msg_name}), \"",
        "                         \"got a buffer of format '%s'\", view.format != NULL ? view.format : \"B\");",
        "            PyBuffer_Release(&view);",
        "            return false;",
        "        }",
        "        const size_t count = (size_t)view.len / element_size;",
    ]
    if field.array_size is not None:
        lines += [
            f"        if (count != {field.array_size}) {{",
            f"            PyErr_Format(PyExc_ValueError, \"{label} must have {field.array_size} elements, got %zu\", count);",
            "            PyBuffer_Release(&view);",
            "            return false;",
            "        }",
            f"        memcpy(ros_message->{n}, view.buf, sizeof ros_message->{n});",
        ]
    else:
        lines += [
            f"        if (!rosidl_mini__sequence_resize((void **)&ros_message->{n}.data, &ros_message->{n}.size,",
            f"                                          &ros_message->{n}.capacity, element_size, count)) {{",
            "            PyBuffer_Release(&view);",
            "            PyErr_NoMemory();",
            "            return false;",
            "        }",
            "        if (count > 0) {",
            f"            memcpy(ros_message->{n}.data, view.buf, count * element_size);",
            "        }",
        ]
    lines += ["        PyBuffer_Release(&view);"]
    return lines


def c_to_py_lines(field):
    t = field.type
    n = field.name
    if field.is_array_like:
        data = f"ros_message->{n}" + (".data" if field.is_sequence else "")
        size = (f"ros_message->{n}.size * sizeof(*ros_message->{n}.data)" if field.is_sequence
                else f"sizeof ros_message->{n}")
        # array.array(typecode, bytes) adopts the raw storage in one call (frombytes). An empty
        # sequence has data == NULL, which "y#" would turn into None: pass "" instead.
        bytes_expr = (f"{data} != NULL ? (const char *){data} : \"\"" if field.is_sequence
                      else f"(const char *){data}")
        return [f"        const char *bytes = {bytes_expr};",
                f"        field = PyObject_CallMethod(array_module, \"array\", \"sy#\", \"{t.typecode}\", bytes,",
                f"                                    (Py_ssize_t)({size}));"]
    if t.kind == "string":
        return [f"        field = PyUnicode_DecodeUTF8(ros_message->{n}.data, (Py_ssize_t)ros_message->{n}.size, "
                "\"replace\");"]
    if t.kind == "bool":
        return [f"        field = PyBool_FromLong(ros_message->{n} ? 1 : 0);"]
    if t.kind == "float":
        return [f"        field = PyFloat_FromDouble((double)ros_message->{n});"]
    return [f"        field = PyLong_FromLongLong((long long)ros_message->{n});"]


def generate_message_c(msg):
    s = msg.c_struct
    p = msg.c_prefix
    out = [f"/* ---- {msg.type_name} ---- */", ""]
    # init / fini / create / destroy
    out += [f"bool {s}__init({s} *msg) {{", "    if (msg == NULL) {", "        return false;", "    }",
            "    memset(msg, 0, sizeof *msg);"]
    for f in msg.fields:
        out += c_init_lines(msg, f)
    out += ["    return true;", "}", ""]
    out += [f"void {s}__fini({s} *msg) {{", "    if (msg == NULL) {", "        return;", "    }"]
    for f in msg.fields:
        out += c_fini_lines(f)
    out += ["}", ""]
    out += [f"{s} *{s}__create(void) {{", f"    {s} *msg = ({s} *)malloc(sizeof *msg);",
            f"    if (msg != NULL && !{s}__init(msg)) {{", "        free(msg);", "        return NULL;", "    }",
            "    return msg;", "}", ""]
    out += [f"void {s}__destroy({s} *msg) {{", f"    {s}__fini(msg);", "    free(msg);", "}", ""]
    # type support functions (called by libminirmw through the table: plain C, no Python)
    out += [f"static bool {s}__ts_init(void *msg) {{ return {s}__init(({s} *)msg); }}",
            f"static void {s}__ts_fini(void *msg) {{ {s}__fini(({s} *)msg); }}", ""]
    out += [f"size_t {s}__serialized_size(const void *raw) {{", f"    const {s} *msg = (const {s} *)raw;",
            "    return " + "\n        + ".join(c_size_expr(f) for f in msg.fields) + ";", "}", ""]
    out += [f"bool {s}__serialize(const void *raw, uint8_t *buffer, size_t capacity) {{",
            f"    const {s} *msg = (const {s} *)raw;", "    mini_writer w = {buffer, capacity};", "    bool ok = true;"]
    for f in msg.fields:
        out += c_serialize_lines(f)
    out += ["    return ok;", "}", ""]
    out += [f"bool {s}__deserialize(const uint8_t *buffer, size_t size, void *raw) {{",
            f"    {s} *msg = ({s} *)raw;",
            "    /* Replace whatever the message held: fini then init gives a clean, owned struct. */",
            f"    {s}__fini(msg);", f"    if (!{s}__init(msg)) {{", "        return false;", "    }",
            "    mini_reader r = {buffer, size};"]
    for f in msg.fields:
        out += c_deserialize_lines(f)
    out += ["    if (r.left != 0) {", "        goto fail;  /* trailing bytes: not one of ours */", "    }",
            "    return true;", "fail:", f"    {s}__fini(msg);", f"    (void){s}__init(msg);", "    return false;",
            "}", ""]
    out += [f"const minirmw_message_type_support_t {s}__type_support = {{",
            f"    \"{msg.type_name}\",", f"    sizeof({s}),", f"    {s}__ts_init,", f"    {s}__ts_fini,",
            f"    {s}__serialized_size,", f"    {s}__serialize,", f"    {s}__deserialize,", "};", ""]
    # capsule entry points for _rclpy_pybind11
    out += [f"static void *{p}__create_ros_message(void) {{ return {s}__create(); }}",
            f"static void {p}__destroy_ros_message(void *msg) {{ {s}__destroy(({s} *)msg); }}", ""]
    # One converter per field: the property already validated it; these re-check what C relies on.
    for f in msg.fields:
        body = c_from_py_array(msg, f) if f.is_array_like else c_from_py_scalar(msg, f)
        out += [f"static bool {s}__{f.name}__from_py(PyObject *field, {s} *ros_message) {{"]
        out += [line[4:] for line in body]
        out += ["    return true;", "}", ""]
    module = f"{msg.package}.msg._{msg.snake}"
    out += [
        "/* Python -> C: what _CONVERT_FROM_PY points to. Reads each property of the Python message",
        " * and fills the caller's initialised struct; false with a Python exception set on bad input. */",
        f"bool {p}__convert_from_py(void *raw_pymsg, void *raw_ros_message) {{",
        "    PyObject *pymsg = (PyObject *)raw_pymsg;",
        f"    {s} *ros_message = ({s} *)raw_ros_message;",
        "    {",
        "        /* Only the class this module generated: its properties guarantee the field types. */",
        f"        PyObject *module = PyImport_ImportModule(\"{module}\");",
        "        if (module == NULL) {",
        "            return false;",
        "        }",
        f"        PyObject *cls = PyObject_GetAttrString(module, \"{msg.name}\");",
        "        Py_DECREF(module);",
        "        if (cls == NULL) {",
        "            return false;",
        "        }",
        "        int is_instance = PyObject_IsInstance(pymsg, cls);",
        "        Py_DECREF(cls);",
        "        if (is_instance != 1) {",
        "            if (is_instance == 0) {",
        f"                PyErr_Format(PyExc_TypeError, \"expected a {module}.{msg.name}, got %s\",",
        "                             Py_TYPE(pymsg)->tp_name);",
        "            }",
        "            return false;",
        "        }",
        "    }",
    ]
    for f in msg.fields:
        out += ["    {", f"        PyObject *field = PyObject_GetAttrString(pymsg, \"{f.name}\");",
                "        if (field == NULL) {", "            return false;", "        }",
                f"        bool ok = {s}__{f.name}__from_py(field, ros_message);",
                "        Py_DECREF(field);", "        if (!ok) {", "            return false;", "        }", "    }"]
    out += ["    return true;", "}", ""]
    out += [
        "/* C -> Python: what _CONVERT_TO_PY points to. Builds a fresh message through its class, so",
        " * the properties validate what the middleware delivered. Returns a new reference or NULL. */",
        f"void *{p}__convert_to_py(void *raw_ros_message) {{",
        f"    const {s} *ros_message = (const {s} *)raw_ros_message;",
        f"    PyObject *module = PyImport_ImportModule(\"{module}\");",
        "    if (module == NULL) {",
        "        return NULL;",
        "    }",
        f"    PyObject *cls = PyObject_GetAttrString(module, \"{msg.name}\");",
        "    Py_DECREF(module);",
        "    if (cls == NULL) {",
        "        return NULL;",
        "    }",
        "    PyObject *pymsg = PyObject_CallNoArgs(cls);",
        "    Py_DECREF(cls);",
        "    if (pymsg == NULL) {",
        "        return NULL;",
        "    }",
    ]
    if any(f.is_array_like for f in msg.fields):
        out += ["    PyObject *array_module = PyImport_ImportModule(\"array\");",
                "    if (array_module == NULL) {", "        Py_DECREF(pymsg);", "        return NULL;", "    }"]
    for f in msg.fields:
        out += ["    {", "        PyObject *field = NULL;"]
        out += c_to_py_lines(f)
        out += [f"        int rc = field == NULL ? -1 : PyObject_SetAttrString(pymsg, \"{f.name}\", field);",
                "        Py_XDECREF(field);", "        if (rc != 0) {", "            goto fail;", "        }", "    }"]
    if any(f.is_array_like for f in msg.fields):
        out += ["    Py_DECREF(array_module);"]
    out += ["    return pymsg;", "fail:"]
    if any(f.is_array_like for f in msg.fields):
        out += ["    Py_DECREF(array_module);"]
    out += ["    Py_DECREF(pymsg);", "    return NULL;", "}", ""]
    # registration, as rosidl's _register_msg_type__msg__<snake>
    out += [
        f"static int register_msg_type__msg__{msg.snake}(PyObject *module) {{",
        "    struct {",
        "        const char *attribute;",
        "        PyObject *capsule;",
        "    } entries[5];",
        f"    rosidl_mini_create_ros_message_t create = {p}__create_ros_message;",
        f"    rosidl_mini_destroy_ros_message_t destroy = {p}__destroy_ros_message;",
        f"    rosidl_mini_convert_from_py_t convert_from_py = {p}__convert_from_py;",
        f"    rosidl_mini_convert_to_py_t convert_to_py = {p}__convert_to_py;",
        f"    entries[0].attribute = \"create_ros_message_msg__msg__{msg.snake}\";",
        "    entries[0].capsule = mini_function_capsule(&create, sizeof create, ROSIDL_MINI_CAPSULE_CREATE);",
        f"    entries[1].attribute = \"destroy_ros_message_msg__msg__{msg.snake}\";",
        "    entries[1].capsule = mini_function_capsule(&destroy, sizeof destroy, ROSIDL_MINI_CAPSULE_DESTROY);",
        f"    entries[2].attribute = \"convert_from_py_msg__msg__{msg.snake}\";",
        "    entries[2].capsule = mini_function_capsule(&convert_from_py, sizeof convert_from_py,",
        "                                               ROSIDL_MINI_CAPSULE_CONVERT_FROM_PY);",
        f"    entries[3].attribute = \"convert_to_py_msg__msg__{msg.snake}\";",
        "    entries[3].capsule = mini_function_capsule(&convert_to_py, sizeof convert_to_py,",
        "                                               ROSIDL_MINI_CAPSULE_CONVERT_TO_PY);",
        f"    entries[4].attribute = \"type_support_msg__msg__{msg.snake}\";",
        f"    entries[4].capsule = PyCapsule_New((void *)&{s}__type_support, ROSIDL_MINI_CAPSULE_TYPE_SUPPORT, NULL);",
        "    int rc = 0;",
        "    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; ++i) {",
        "        /* PyModule_AddObjectRef leaves our reference alone either way: drop it after. */",
        "        if (rc == 0 && (entries[i].capsule == NULL ||",
        "                        PyModule_AddObjectRef(module, entries[i].attribute, entries[i].capsule) != 0)) {",
        "            rc = -1;",
        "        }",
        "        Py_XDECREF(entries[i].capsule);",
        "    }",
        "    return rc;",
        "}",
        "",
    ]
    return out


def generate_typesupport_c(package, messages):
    module_name = f"{package}_s__rosidl_typesupport_c"
    out = [
        f"/* Generated by rosidl_mini: the C typesupport extension {module_name}; do not edit. */",
        "#define PY_SSIZE_T_CLEAN",
        "#include <Python.h>",
        "",
        "#include <minirmw/type_support.h>",
        "#include <rosidl_mini/runtime.h>",
    ]
    out += [f"#include \"{package}/msg/detail/{m.snake}__struct.h\"" for m in messages]
    out += ["", "#include <stdbool.h>", "#include <stdint.h>", "#include <stdlib.h>", "#include <string.h>", ""]
    # Exported symbols the build may want to call from C tests; declared here to satisfy
    # -Wmissing-prototypes style checks and to document the ABI.
    for m in messages:
        s, p = m.c_struct, m.c_prefix
        out += [f"size_t {s}__serialized_size(const void *raw);",
                f"bool {s}__serialize(const void *raw, uint8_t *buffer, size_t capacity);",
                f"bool {s}__deserialize(const uint8_t *buffer, size_t size, void *raw);",
                f"extern const minirmw_message_type_support_t {s}__type_support;",
                f"bool {p}__convert_from_py(void *raw_pymsg, void *raw_ros_message);",
                f"void *{p}__convert_to_py(void *raw_ros_message);", ""]
    out += C_PRELUDE.splitlines() + [""]
    for m in messages:
        out += generate_message_c(m)
    out += [
        "static PyObject *module_create(void) {",
        f"    static struct PyModuleDef module_def = {{PyModuleDef_HEAD_INIT, \"{module_name}\",",
        "        \"C type support of the package's messages: their convert functions as PyCapsules.\", -1, NULL,",
        "        NULL, NULL, NULL, NULL};",
        "    return PyModule_Create(&module_def);",
        "}",
        "",
        f"PyMODINIT_FUNC PyInit_{module_name}(void) {{",
        "    PyObject *module = module_create();",
        "    if (module == NULL) {",
        "        return NULL;",
        "    }",
    ]
    for m in messages:
        out += [f"    if (register_msg_type__msg__{m.snake}(module) != 0) {{", "        Py_DECREF(module);",
                "        return NULL;", "    }"]
    out += ["    return module;", "}"]
    return "\n".join(out) + "\n"


def write_if_changed(path, text):
    """Rewrites only on change, so an unchanged .msg does not force rebuilding the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--package", required=True, help="interface package name, e.g. demo_interfaces")
    parser.add_argument("--py-out", required=True, type=pathlib.Path, help="folder receiving <package>/msg/*.py")
    parser.add_argument("--c-out", required=True, type=pathlib.Path,
                        help="folder receiving the struct headers and the typesupport C source")
    parser.add_argument("msg_files", nargs="+", type=pathlib.Path, help=".msg files of the package")
    args = parser.parse_args(argv)
    if not re.match(r"^[a-z][a-z0-9_]*$", args.package):
        print(f"rosidl_mini: package name {args.package!r} must be lower_case_with_underscores", file=sys.stderr)
        return 2
    try:
        messages = [parse_msg(path, args.package) for path in args.msg_files]
    except OSError as error:
        print(f"rosidl_mini: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    except MsgError as error:
        print(f"rosidl_mini: {error}", file=sys.stderr)
        return 2

    package_dir = args.py_out / args.package
    write_if_changed(package_dir / "__init__.py",
                     f'"""Interface package {args.package}, generated by rosidl_mini; do not edit."""\n')
    imports = "".join(f"from {args.package}.msg._{m.snake} import {m.name}  # noqa: F401\n" for m in messages)
    write_if_changed(package_dir / "msg" / "__init__.py",
                     f'"""Messages of {args.package}, generated by rosidl_mini; do not edit."""\n{imports}')
    for m in messages:
        write_if_changed(package_dir / "msg" / f"_{m.snake}.py", generate_python(m))
        write_if_changed(args.c_out / args.package / "msg" / "detail" / f"{m.snake}__struct.h",
                         generate_struct_header(m))
    write_if_changed(args.c_out / f"{args.package}_s__rosidl_typesupport_c.c",
                     generate_typesupport_c(args.package, messages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
