/* The C runtime types of generated messages: rosidl_runtime_c's String and sequences, in miniature. */
#ifndef ROSIDL_MINI_RUNTIME_H
#define ROSIDL_MINI_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A UTF-8 string owned by the message: data is NUL-terminated, size excludes the NUL. */
typedef struct rosidl_mini__String {
    char* data;
    size_t size;
    size_t capacity;
} rosidl_mini__String;

/* Unbounded sequences of primitives: data points to size elements owned by the message. */
#define ROSIDL_MINI_SEQUENCE(NAME, TYPE)                                                                     \
    typedef struct rosidl_mini__##NAME##__Sequence {                                                         \
        TYPE* data;                                                                                          \
        size_t size;                                                                                         \
        size_t capacity;                                                                                     \
    } rosidl_mini__##NAME##__Sequence;

ROSIDL_MINI_SEQUENCE(boolean, bool)
ROSIDL_MINI_SEQUENCE(uint8, uint8_t)
ROSIDL_MINI_SEQUENCE(int32, int32_t)
ROSIDL_MINI_SEQUENCE(uint32, uint32_t)
ROSIDL_MINI_SEQUENCE(int64, int64_t)
ROSIDL_MINI_SEQUENCE(float, float)
ROSIDL_MINI_SEQUENCE(double, double)

#undef ROSIDL_MINI_SEQUENCE

/* The functions live in librosidl_mini_runtime.so (plain C, Layer 3), as rosidl_runtime_c's do:
 * generated code in every interface package shares one copy. */

/* An empty string ("" with its NUL); false when out of memory. */
bool rosidl_mini__String__init(rosidl_mini__String* s);
void rosidl_mini__String__fini(rosidl_mini__String* s);
/* Copies `size` bytes of `value` (which need not be NUL-terminated); false when out of memory,
 * leaving the old contents in place. */
bool rosidl_mini__String__assignn(rosidl_mini__String* s, const char* value, size_t size);
/* Replaces a sequence's storage with `count` zeroed elements of `element_size` bytes. */
bool rosidl_mini__sequence_resize(void** data, size_t* size, size_t* capacity, size_t element_size,
                                  size_t count);

/* The signatures behind the message capsules, as rosidl_generator_py and rclpy agree on them:
 * create/destroy a C message, convert Python -> C (false with a Python error set) and C -> Python
 * (a new reference, or NULL with an error set). */
typedef void* (*rosidl_mini_create_ros_message_t)(void);
typedef void (*rosidl_mini_destroy_ros_message_t)(void*);
typedef bool (*rosidl_mini_convert_from_py_t)(void* pymessage /* PyObject* */, void* ros_message);
typedef void* (*rosidl_mini_convert_to_py_t)(void* ros_message); /* returns PyObject* */

/* Capsule names: the typesupport module names each capsule and _rclpy_pybind11 asks for exactly
 * that name, so a wrong capsule is a Python error instead of a jump to the wrong function. */
#define ROSIDL_MINI_CAPSULE_CREATE "rosidl_mini.create_ros_message"
#define ROSIDL_MINI_CAPSULE_DESTROY "rosidl_mini.destroy_ros_message"
#define ROSIDL_MINI_CAPSULE_CONVERT_FROM_PY "rosidl_mini.convert_from_py"
#define ROSIDL_MINI_CAPSULE_CONVERT_TO_PY "rosidl_mini.convert_to_py"
#define ROSIDL_MINI_CAPSULE_TYPE_SUPPORT "rosidl_mini.message_type_support"

#ifdef __cplusplus
}
#endif

#endif /* ROSIDL_MINI_RUNTIME_H */
