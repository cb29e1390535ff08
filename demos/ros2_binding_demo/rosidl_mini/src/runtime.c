/* librosidl_mini_runtime: strings and sequences of generated C messages (rosidl_runtime_c's role). */

#include <rosidl_mini/runtime.h>
#include <stdlib.h>
#include <string.h>

bool rosidl_mini__String__init(rosidl_mini__String* s) {
    s->data = malloc(1);
    if (s->data == NULL) {
        return false;
    }
    s->data[0] = '\0';
    s->size = 0;
    s->capacity = 1;
    return true;
}

void rosidl_mini__String__fini(rosidl_mini__String* s) {
    free(s->data);
    s->data = NULL;
    s->size = 0;
    s->capacity = 0;
}

bool rosidl_mini__String__assignn(rosidl_mini__String* s, const char* value, size_t size) {
    char* data = malloc(size + 1);
    if (data == NULL) {
        return false;
    }
    if (size > 0) {
        memcpy(data, value, size);
    }
    data[size] = '\0';
    free(s->data);
    s->data = data;
    s->size = size;
    s->capacity = size + 1;
    return true;
}

bool rosidl_mini__sequence_resize(void** data, size_t* size, size_t* capacity, size_t element_size,
                                  size_t count) {
    void* grown = NULL;
    if (count > 0) {
        grown = calloc(count, element_size);
        if (grown == NULL) {
            return false;
        }
    }
    free(*data);
    *data = grown;
    *size = count;
    *capacity = count;
    return true;
}
