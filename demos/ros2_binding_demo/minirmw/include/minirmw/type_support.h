/* How the middleware handles a message type it knows nothing about: generated functions behind a table. */
#ifndef MINIRMW_TYPE_SUPPORT_H
#define MINIRMW_TYPE_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The miniature of rosidl_message_type_support_t: the middleware never sees a message's fields,
 * only this table, which the generated typesupport library fills for each message type. The
 * functions are plain C (no Python.h): Layer 3 calls them while publishing and taking. */
typedef struct minirmw_message_type_support {
    const char* type_name;       /* "demo_interfaces/msg/DemoStatus"; topics refuse a second type */
    size_t message_size;         /* sizeof the C message struct */
    bool (*init)(void* message); /* zero-initialise a struct the caller owns */
    void (*fini)(void* message); /* free what init/deserialize allocated inside it */
    size_t (*serialized_size)(const void* message);
    /* Writes exactly serialized_size(message) bytes; false if capacity is too small. */
    bool (*serialize)(const void* message, uint8_t* buffer, size_t capacity);
    /* Replaces the contents of an initialised message; false on truncated or malformed input. */
    bool (*deserialize)(const uint8_t* buffer, size_t size, void* message);
} minirmw_message_type_support_t;

#ifdef __cplusplus
}
#endif

#endif /* MINIRMW_TYPE_SUPPORT_H */
