/* libminirmw: an in-process publish/subscribe middleware with a C ABI, the demo's stand-in for rmw. */
#ifndef MINIRMW_MINIRMW_H
#define MINIRMW_MINIRMW_H

#include <minirmw/type_support.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every fallible call returns one of these; minirmw_last_error() then says what went wrong on
 * the calling thread, with context (topic, type, index). */
typedef enum minirmw_ret {
    MINIRMW_OK = 0,
    MINIRMW_TIMEOUT = 1,           /* minirmw_wait: nothing became ready in time */
    MINIRMW_ERROR = 2,             /* generic failure (allocation, serialization) */
    MINIRMW_INVALID_ARGUMENT = 3,  /* NULL handle, empty topic, zero depth, bad index */
    MINIRMW_INCOMPATIBLE_TYPE = 4, /* the topic already carries another message type */
    MINIRMW_BUSY = 5,              /* destroying something that still has live children */
    MINIRMW_SHUTDOWN = 6           /* the context was shut down */
} minirmw_ret_t;

typedef struct minirmw_context minirmw_context_t;
typedef struct minirmw_node minirmw_node_t;
typedef struct minirmw_publisher minirmw_publisher_t;
typedef struct minirmw_subscription minirmw_subscription_t;
typedef struct minirmw_wait_set minirmw_wait_set_t;

/* The message of the last failed call on this thread ("" if none). */
const char* minirmw_last_error(void);

/* A context owns the topic graph; everything created from it must be destroyed before it. */
minirmw_context_t* minirmw_context_create(void);
/* Wakes every waiter with MINIRMW_SHUTDOWN; later publishes and waits fail the same way. */
minirmw_ret_t minirmw_context_shutdown(minirmw_context_t* context);
bool minirmw_context_is_valid(const minirmw_context_t* context);
minirmw_ret_t minirmw_context_destroy(minirmw_context_t* context);

minirmw_node_t* minirmw_node_create(minirmw_context_t* context, const char* name);
const char* minirmw_node_get_name(const minirmw_node_t* node);
minirmw_ret_t minirmw_node_destroy(minirmw_node_t* node);

/* depth: how many messages each subscription keeps (KEEP_LAST: the oldest is dropped). */
minirmw_publisher_t* minirmw_publisher_create(minirmw_node_t* node,
                                              const minirmw_message_type_support_t* type_support,
                                              const char* topic, size_t depth);
/* Serializes the C message once through its type support and queues a copy for every
 * subscription on the topic, in publication order. */
minirmw_ret_t minirmw_publish(minirmw_publisher_t* publisher, const void* ros_message);
/* How many subscriptions the topic has right now. */
size_t minirmw_publisher_get_subscription_count(const minirmw_publisher_t* publisher);
minirmw_ret_t minirmw_publisher_destroy(minirmw_publisher_t* publisher);

minirmw_subscription_t* minirmw_subscription_create(minirmw_node_t* node,
                                                    const minirmw_message_type_support_t* type_support,
                                                    const char* topic, size_t depth);
/* Pops the oldest queued message into an initialised C message; *taken says whether there was one. */
minirmw_ret_t minirmw_take(minirmw_subscription_t* subscription, void* ros_message, bool* taken);
size_t minirmw_subscription_get_queue_size(const minirmw_subscription_t* subscription);
/* Messages dropped because the queue was full (KEEP_LAST depth). */
uint64_t minirmw_subscription_get_dropped_count(const minirmw_subscription_t* subscription);
minirmw_ret_t minirmw_subscription_destroy(minirmw_subscription_t* subscription);

/* A wait set holds up to `capacity` subscriptions; wait() blocks until one has a message. */
minirmw_wait_set_t* minirmw_wait_set_create(minirmw_context_t* context, size_t capacity);
minirmw_ret_t minirmw_wait_set_clear(minirmw_wait_set_t* wait_set);
minirmw_ret_t minirmw_wait_set_add_subscription(minirmw_wait_set_t* wait_set,
                                                minirmw_subscription_t* subscription, size_t* index);
/* timeout_ns < 0 waits forever, 0 only polls. MINIRMW_OK when at least one entry is ready,
 * MINIRMW_TIMEOUT when none became ready, MINIRMW_SHUTDOWN when the context was shut down. */
minirmw_ret_t minirmw_wait(minirmw_wait_set_t* wait_set, int64_t timeout_ns);
bool minirmw_wait_set_is_ready(const minirmw_wait_set_t* wait_set, size_t index);
minirmw_ret_t minirmw_wait_set_destroy(minirmw_wait_set_t* wait_set);

#ifdef __cplusplus
}
#endif

#endif /* MINIRMW_MINIRMW_H */
