/* libminirmw: topics, KEEP_LAST queues of serialized messages and a wait set, all in one process. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <minirmw/minirmw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One queued sample: the bytes the type support's serialize() wrote. Subscribers get their own
 * copy so taking from one queue never touches another. */
typedef struct minirmw_sample {
    uint8_t* data;
    size_t size;
} minirmw_sample_t;

typedef struct minirmw_topic {
    char* name;
    const char* type_name; /* points into the type support table, which outlives the process' use */
    size_t publisher_count;
    size_t subscription_count;
    size_t subscription_capacity;
    minirmw_subscription_t** subscriptions; /* in creation order: delivery order is deterministic */
    struct minirmw_topic* next;
} minirmw_topic_t;

struct minirmw_context {
    /* One lock for the whole graph: the demo favours obviously-correct over contention-free. */
    pthread_mutex_t mutex;
    pthread_cond_t changed; /* signalled on every publish and on shutdown */
    bool shutdown;
    minirmw_topic_t* topics;
    size_t node_count;
    size_t wait_set_count;
};

struct minirmw_node {
    minirmw_context_t* context;
    char* name;
    size_t entity_count;
};

struct minirmw_publisher {
    minirmw_node_t* node;
    minirmw_topic_t* topic;
    const minirmw_message_type_support_t* type_support;
};

struct minirmw_subscription {
    minirmw_node_t* node;
    minirmw_topic_t* topic;
    const minirmw_message_type_support_t* type_support;
    minirmw_sample_t* ring;
    size_t depth;
    size_t head;  /* index of the oldest sample */
    size_t count; /* samples queued */
    uint64_t dropped;
    size_t wait_set_refs; /* a wait set still points at it: destroying it now would dangle */
};

struct minirmw_wait_set {
    minirmw_context_t* context;
    size_t capacity;
    size_t size;
    minirmw_subscription_t** subscriptions;
    bool* ready;
};

static _Thread_local char t_last_error[512];

static void setError(const char* format, ...) __attribute__((format(printf, 1, 2)));
static void setError(const char* format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(t_last_error, sizeof t_last_error, format, args);
    va_end(args);
}

const char* minirmw_last_error(void) {
    return t_last_error;
}

static char* copyString(const char* text) {
    size_t length = strlen(text);
    char* copy = malloc(length + 1);
    if (copy != NULL) {
        memcpy(copy, text, length + 1);
    }
    return copy;
}

static bool validTypeSupport(const minirmw_message_type_support_t* ts) {
    return ts != NULL && ts->type_name != NULL && ts->init != NULL && ts->fini != NULL &&
           ts->serialized_size != NULL && ts->serialize != NULL && ts->deserialize != NULL;
}

/* ---- context ---- */

minirmw_context_t* minirmw_context_create(void) {
    minirmw_context_t* context = calloc(1, sizeof *context);
    if (context == NULL) {
        setError("minirmw_context_create: out of memory");
        return NULL;
    }
    pthread_mutex_init(&context->mutex, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    /* Timeouts are measured on the monotonic clock so a wall-clock jump cannot stretch a wait. */
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&context->changed, &attributes);
    pthread_condattr_destroy(&attributes);
    return context;
}

minirmw_ret_t minirmw_context_shutdown(minirmw_context_t* context) {
    if (context == NULL) {
        setError("minirmw_context_shutdown: context is NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&context->mutex);
    context->shutdown = true;
    pthread_cond_broadcast(&context->changed);
    pthread_mutex_unlock(&context->mutex);
    return MINIRMW_OK;
}

bool minirmw_context_is_valid(const minirmw_context_t* context) {
    if (context == NULL) {
        return false;
    }
    minirmw_context_t* mutable_context = (minirmw_context_t*)context;
    pthread_mutex_lock(&mutable_context->mutex);
    bool valid = !context->shutdown;
    pthread_mutex_unlock(&mutable_context->mutex);
    return valid;
}

minirmw_ret_t minirmw_context_destroy(minirmw_context_t* context) {
    if (context == NULL) {
        setError("minirmw_context_destroy: context is NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&context->mutex);
    size_t nodes = context->node_count;
    size_t wait_sets = context->wait_set_count;
    pthread_mutex_unlock(&context->mutex);
    if (nodes != 0 || wait_sets != 0) {
        setError("minirmw_context_destroy: %zu node(s) and %zu wait set(s) still alive; destroy them first",
                 nodes, wait_sets);
        return MINIRMW_BUSY;
    }
    pthread_cond_destroy(&context->changed);
    pthread_mutex_destroy(&context->mutex);
    free(context);
    return MINIRMW_OK;
}

/* ---- nodes ---- */

minirmw_node_t* minirmw_node_create(minirmw_context_t* context, const char* name) {
    if (context == NULL || name == NULL || name[0] == '\0') {
        setError("minirmw_node_create: need a context and a non-empty name");
        return NULL;
    }
    minirmw_node_t* node = calloc(1, sizeof *node);
    char* name_copy = copyString(name);
    if (node == NULL || name_copy == NULL) {
        free(node);
        free(name_copy);
        setError("minirmw_node_create: out of memory for node '%s'", name);
        return NULL;
    }
    node->context = context;
    node->name = name_copy;
    pthread_mutex_lock(&context->mutex);
    context->node_count++;
    pthread_mutex_unlock(&context->mutex);
    return node;
}

const char* minirmw_node_get_name(const minirmw_node_t* node) {
    return node != NULL ? node->name : NULL;
}

minirmw_ret_t minirmw_node_destroy(minirmw_node_t* node) {
    if (node == NULL) {
        setError("minirmw_node_destroy: node is NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    minirmw_context_t* context = node->context;
    pthread_mutex_lock(&context->mutex);
    if (node->entity_count != 0) {
        size_t entities = node->entity_count;
        pthread_mutex_unlock(&context->mutex);
        setError("minirmw_node_destroy: node '%s' still has %zu publisher(s)/subscription(s)", node->name,
                 entities);
        return MINIRMW_BUSY;
    }
    context->node_count--;
    pthread_mutex_unlock(&context->mutex);
    free(node->name);
    free(node);
    return MINIRMW_OK;
}

/* ---- topics (context mutex held) ---- */

static minirmw_topic_t* findOrAddTopic(minirmw_context_t* context, const char* name, const char* type_name,
                                       minirmw_ret_t* ret) {
    for (minirmw_topic_t* topic = context->topics; topic != NULL; topic = topic->next) {
        if (strcmp(topic->name, name) == 0) {
            if (strcmp(topic->type_name, type_name) != 0) {
                setError("topic '%s' carries %s; cannot use it with %s", name, topic->type_name, type_name);
                *ret = MINIRMW_INCOMPATIBLE_TYPE;
                return NULL;
            }
            return topic;
        }
    }
    minirmw_topic_t* topic = calloc(1, sizeof *topic);
    char* name_copy = copyString(name);
    if (topic == NULL || name_copy == NULL) {
        free(topic);
        free(name_copy);
        setError("out of memory for topic '%s'", name);
        *ret = MINIRMW_ERROR;
        return NULL;
    }
    topic->name = name_copy;
    topic->type_name = type_name;
    topic->next = context->topics;
    context->topics = topic;
    return topic;
}

static void releaseTopicIfUnused(minirmw_context_t* context, minirmw_topic_t* topic) {
    if (topic->publisher_count != 0 || topic->subscription_count != 0) {
        return;
    }
    for (minirmw_topic_t** link = &context->topics; *link != NULL; link = &(*link)->next) {
        if (*link == topic) {
            *link = topic->next;
            break;
        }
    }
    free(topic->subscriptions);
    free(topic->name);
    free(topic);
}

static bool checkEntityArguments(const char* what, minirmw_node_t* node,
                                 const minirmw_message_type_support_t* ts, const char* topic, size_t depth) {
    if (node == NULL || topic == NULL || topic[0] == '\0') {
        setError("%s: need a node and a non-empty topic name", what);
        return false;
    }
    if (!validTypeSupport(ts)) {
        setError("%s: topic '%s': the type support table is NULL or incomplete", what, topic);
        return false;
    }
    if (depth == 0) {
        setError("%s: topic '%s': depth must be at least 1", what, topic);
        return false;
    }
    return true;
}

/* ---- publishers ---- */

minirmw_publisher_t* minirmw_publisher_create(minirmw_node_t* node,
                                              const minirmw_message_type_support_t* type_support,
                                              const char* topic_name, size_t depth) {
    if (!checkEntityArguments("minirmw_publisher_create", node, type_support, topic_name, depth)) {
        return NULL;
    }
    minirmw_publisher_t* publisher = calloc(1, sizeof *publisher);
    if (publisher == NULL) {
        setError("minirmw_publisher_create: out of memory for topic '%s'", topic_name);
        return NULL;
    }
    minirmw_context_t* context = node->context;
    minirmw_ret_t ret = MINIRMW_OK;
    pthread_mutex_lock(&context->mutex);
    minirmw_topic_t* topic = findOrAddTopic(context, topic_name, type_support->type_name, &ret);
    if (topic != NULL) {
        topic->publisher_count++;
        node->entity_count++;
    }
    pthread_mutex_unlock(&context->mutex);
    if (topic == NULL) {
        free(publisher);
        return NULL;
    }
    publisher->node = node;
    publisher->topic = topic;
    publisher->type_support = type_support;
    return publisher;
}

static bool pushSample(minirmw_subscription_t* subscription, const uint8_t* data, size_t size) {
    uint8_t* copy = malloc(size > 0 ? size : 1);
    if (copy == NULL) {
        return false;
    }
    memcpy(copy, data, size);
    if (subscription->count == subscription->depth) {
        /* KEEP_LAST: the oldest sample makes room, as a ROS 2 queue of this depth would. */
        free(subscription->ring[subscription->head].data);
        subscription->head = (subscription->head + 1) % subscription->depth;
        subscription->count--;
        subscription->dropped++;
    }
    size_t tail = (subscription->head + subscription->count) % subscription->depth;
    subscription->ring[tail].data = copy;
    subscription->ring[tail].size = size;
    subscription->count++;
    return true;
}

minirmw_ret_t minirmw_publish(minirmw_publisher_t* publisher, const void* ros_message) {
    if (publisher == NULL || ros_message == NULL) {
        setError("minirmw_publish: publisher and message must not be NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    const minirmw_message_type_support_t* ts = publisher->type_support;
    /* Serialize outside the lock: the type support only reads the caller's struct. */
    size_t size = ts->serialized_size(ros_message);
    uint8_t* buffer = malloc(size > 0 ? size : 1);
    if (buffer == NULL) {
        setError("minirmw_publish: topic '%s': out of memory for a %zu-byte sample", publisher->topic->name,
                 size);
        return MINIRMW_ERROR;
    }
    if (!ts->serialize(ros_message, buffer, size)) {
        free(buffer);
        setError("minirmw_publish: topic '%s': %s failed to serialize", publisher->topic->name,
                 ts->type_name);
        return MINIRMW_ERROR;
    }
    minirmw_context_t* context = publisher->node->context;
    minirmw_ret_t ret = MINIRMW_OK;
    pthread_mutex_lock(&context->mutex);
    if (context->shutdown) {
        setError("minirmw_publish: topic '%s': the context was shut down", publisher->topic->name);
        ret = MINIRMW_SHUTDOWN;
    } else {
        minirmw_topic_t* topic = publisher->topic;
        for (size_t i = 0; i < topic->subscription_count; ++i) {
            if (!pushSample(topic->subscriptions[i], buffer, size)) {
                setError("minirmw_publish: topic '%s': out of memory queueing for subscription %zu",
                         topic->name, i);
                ret = MINIRMW_ERROR;
                break;
            }
        }
        pthread_cond_broadcast(&context->changed);
    }
    pthread_mutex_unlock(&context->mutex);
    free(buffer);
    return ret;
}

size_t minirmw_publisher_get_subscription_count(const minirmw_publisher_t* publisher) {
    if (publisher == NULL) {
        return 0;
    }
    minirmw_context_t* context = publisher->node->context;
    pthread_mutex_lock(&context->mutex);
    size_t count = publisher->topic->subscription_count;
    pthread_mutex_unlock(&context->mutex);
    return count;
}

minirmw_ret_t minirmw_publisher_destroy(minirmw_publisher_t* publisher) {
    if (publisher == NULL) {
        setError("minirmw_publisher_destroy: publisher is NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    minirmw_context_t* context = publisher->node->context;
    pthread_mutex_lock(&context->mutex);
    publisher->topic->publisher_count--;
    publisher->node->entity_count--;
    releaseTopicIfUnused(context, publisher->topic);
    pthread_mutex_unlock(&context->mutex);
    free(publisher);
    return MINIRMW_OK;
}

/* ---- subscriptions ---- */

minirmw_subscription_t* minirmw_subscription_create(minirmw_node_t* node,
                                                    const minirmw_message_type_support_t* type_support,
                                                    const char* topic_name, size_t depth) {
    if (!checkEntityArguments("minirmw_subscription_create", node, type_support, topic_name, depth)) {
        return NULL;
    }
    minirmw_subscription_t* subscription = calloc(1, sizeof *subscription);
    minirmw_sample_t* ring = calloc(depth, sizeof *ring);
    if (subscription == NULL || ring == NULL) {
        free(subscription);
        free(ring);
        setError("minirmw_subscription_create: out of memory for topic '%s' (depth %zu)", topic_name, depth);
        return NULL;
    }
    subscription->node = node;
    subscription->type_support = type_support;
    subscription->ring = ring;
    subscription->depth = depth;

    minirmw_context_t* context = node->context;
    minirmw_ret_t ret = MINIRMW_OK;
    pthread_mutex_lock(&context->mutex);
    minirmw_topic_t* topic = findOrAddTopic(context, topic_name, type_support->type_name, &ret);
    if (topic != NULL && topic->subscription_count == topic->subscription_capacity) {
        size_t capacity = topic->subscription_capacity == 0 ? 4 : topic->subscription_capacity * 2;
        minirmw_subscription_t** grown = realloc(topic->subscriptions, capacity * sizeof *grown);
        if (grown == NULL) {
            setError("minirmw_subscription_create: out of memory growing topic '%s'", topic_name);
            releaseTopicIfUnused(context, topic);
            topic = NULL;
        } else {
            topic->subscriptions = grown;
            topic->subscription_capacity = capacity;
        }
    }
    if (topic != NULL) {
        topic->subscriptions[topic->subscription_count++] = subscription;
        node->entity_count++;
    }
    pthread_mutex_unlock(&context->mutex);
    if (topic == NULL) {
        free(ring);
        free(subscription);
        return NULL;
    }
    subscription->topic = topic;
    return subscription;
}

minirmw_ret_t minirmw_take(minirmw_subscription_t* subscription, void* ros_message, bool* taken) {
    if (subscription == NULL || ros_message == NULL || taken == NULL) {
        setError("minirmw_take: subscription, message and taken must not be NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    *taken = false;
    minirmw_context_t* context = subscription->node->context;
    pthread_mutex_lock(&context->mutex);
    minirmw_sample_t sample = {NULL, 0};
    if (subscription->count > 0) {
        sample = subscription->ring[subscription->head];
        subscription->ring[subscription->head].data = NULL;
        subscription->head = (subscription->head + 1) % subscription->depth;
        subscription->count--;
    }
    pthread_mutex_unlock(&context->mutex);
    if (sample.data == NULL) {
        return MINIRMW_OK;
    }
    /* Deserialize outside the lock: the sample is ours now. */
    bool ok = subscription->type_support->deserialize(sample.data, sample.size, ros_message);
    free(sample.data);
    if (!ok) {
        setError("minirmw_take: topic '%s': a %zu-byte sample is not a valid %s", subscription->topic->name,
                 sample.size, subscription->type_support->type_name);
        return MINIRMW_ERROR;
    }
    *taken = true;
    return MINIRMW_OK;
}

size_t minirmw_subscription_get_queue_size(const minirmw_subscription_t* subscription) {
    if (subscription == NULL) {
        return 0;
    }
    minirmw_context_t* context = subscription->node->context;
    pthread_mutex_lock(&context->mutex);
    size_t count = subscription->count;
    pthread_mutex_unlock(&context->mutex);
    return count;
}

uint64_t minirmw_subscription_get_dropped_count(const minirmw_subscription_t* subscription) {
    if (subscription == NULL) {
        return 0;
    }
    minirmw_context_t* context = subscription->node->context;
    pthread_mutex_lock(&context->mutex);
    uint64_t dropped = subscription->dropped;
    pthread_mutex_unlock(&context->mutex);
    return dropped;
}

minirmw_ret_t minirmw_subscription_destroy(minirmw_subscription_t* subscription) {
    if (subscription == NULL) {
        setError("minirmw_subscription_destroy: subscription is NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    minirmw_context_t* context = subscription->node->context;
    pthread_mutex_lock(&context->mutex);
    if (subscription->wait_set_refs != 0) {
        pthread_mutex_unlock(&context->mutex);
        setError("minirmw_subscription_destroy: topic '%s': still in %zu wait set(s); clear them first",
                 subscription->topic->name, subscription->wait_set_refs);
        return MINIRMW_BUSY;
    }
    minirmw_topic_t* topic = subscription->topic;
    for (size_t i = 0; i < topic->subscription_count; ++i) {
        if (topic->subscriptions[i] == subscription) {
            memmove(&topic->subscriptions[i], &topic->subscriptions[i + 1],
                    (topic->subscription_count - i - 1) * sizeof *topic->subscriptions);
            topic->subscription_count--;
            break;
        }
    }
    subscription->node->entity_count--;
    releaseTopicIfUnused(context, topic);
    pthread_mutex_unlock(&context->mutex);
    for (size_t i = 0; i < subscription->count; ++i) {
        free(subscription->ring[(subscription->head + i) % subscription->depth].data);
    }
    free(subscription->ring);
    free(subscription);
    return MINIRMW_OK;
}

/* ---- wait sets ---- */

minirmw_wait_set_t* minirmw_wait_set_create(minirmw_context_t* context, size_t capacity) {
    if (context == NULL || capacity == 0) {
        setError("minirmw_wait_set_create: need a context and a capacity of at least 1");
        return NULL;
    }
    minirmw_wait_set_t* wait_set = calloc(1, sizeof *wait_set);
    minirmw_subscription_t** subscriptions = calloc(capacity, sizeof *subscriptions);
    bool* ready = calloc(capacity, sizeof *ready);
    if (wait_set == NULL || subscriptions == NULL || ready == NULL) {
        free(wait_set);
        free(subscriptions);
        free(ready);
        setError("minirmw_wait_set_create: out of memory for %zu entries", capacity);
        return NULL;
    }
    wait_set->context = context;
    wait_set->capacity = capacity;
    wait_set->subscriptions = subscriptions;
    wait_set->ready = ready;
    pthread_mutex_lock(&context->mutex);
    context->wait_set_count++;
    pthread_mutex_unlock(&context->mutex);
    return wait_set;
}

static void clearLocked(minirmw_wait_set_t* wait_set) {
    for (size_t i = 0; i < wait_set->size; ++i) {
        wait_set->subscriptions[i]->wait_set_refs--;
        wait_set->subscriptions[i] = NULL;
        wait_set->ready[i] = false;
    }
    wait_set->size = 0;
}

minirmw_ret_t minirmw_wait_set_clear(minirmw_wait_set_t* wait_set) {
    if (wait_set == NULL) {
        setError("minirmw_wait_set_clear: wait set is NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&wait_set->context->mutex);
    clearLocked(wait_set);
    pthread_mutex_unlock(&wait_set->context->mutex);
    return MINIRMW_OK;
}

minirmw_ret_t minirmw_wait_set_add_subscription(minirmw_wait_set_t* wait_set,
                                                minirmw_subscription_t* subscription, size_t* index) {
    if (wait_set == NULL || subscription == NULL) {
        setError("minirmw_wait_set_add_subscription: wait set and subscription must not be NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    if (subscription->node->context != wait_set->context) {
        setError("minirmw_wait_set_add_subscription: topic '%s' belongs to another context",
                 subscription->topic->name);
        return MINIRMW_INVALID_ARGUMENT;
    }
    pthread_mutex_lock(&wait_set->context->mutex);
    if (wait_set->size == wait_set->capacity) {
        pthread_mutex_unlock(&wait_set->context->mutex);
        setError("minirmw_wait_set_add_subscription: the wait set is full (%zu entries)", wait_set->capacity);
        return MINIRMW_INVALID_ARGUMENT;
    }
    size_t slot = wait_set->size++;
    wait_set->subscriptions[slot] = subscription;
    wait_set->ready[slot] = false;
    subscription->wait_set_refs++;
    pthread_mutex_unlock(&wait_set->context->mutex);
    if (index != NULL) {
        *index = slot;
    }
    return MINIRMW_OK;
}

static bool markReadyLocked(minirmw_wait_set_t* wait_set) {
    bool any = false;
    for (size_t i = 0; i < wait_set->size; ++i) {
        wait_set->ready[i] = wait_set->subscriptions[i]->count > 0;
        any = any || wait_set->ready[i];
    }
    return any;
}

minirmw_ret_t minirmw_wait(minirmw_wait_set_t* wait_set, int64_t timeout_ns) {
    if (wait_set == NULL) {
        setError("minirmw_wait: wait set is NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    minirmw_context_t* context = wait_set->context;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ns > 0) {
        deadline.tv_sec += (time_t)(timeout_ns / 1000000000);
        deadline.tv_nsec += (long)(timeout_ns % 1000000000);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    minirmw_ret_t ret = MINIRMW_OK;
    pthread_mutex_lock(&context->mutex);
    for (;;) {
        if (context->shutdown) {
            setError("minirmw_wait: the context was shut down");
            ret = MINIRMW_SHUTDOWN;
            break;
        }
        if (markReadyLocked(wait_set)) {
            ret = MINIRMW_OK;
            break;
        }
        if (timeout_ns == 0) {
            ret = MINIRMW_TIMEOUT;
            break;
        }
        int rc = timeout_ns < 0 ? pthread_cond_wait(&context->changed, &context->mutex)
                                : pthread_cond_timedwait(&context->changed, &context->mutex, &deadline);
        if (rc == ETIMEDOUT) {
            ret = markReadyLocked(wait_set) ? MINIRMW_OK : MINIRMW_TIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&context->mutex);
    return ret;
}

bool minirmw_wait_set_is_ready(const minirmw_wait_set_t* wait_set, size_t index) {
    return wait_set != NULL && index < wait_set->size && wait_set->ready[index];
}

minirmw_ret_t minirmw_wait_set_destroy(minirmw_wait_set_t* wait_set) {
    if (wait_set == NULL) {
        setError("minirmw_wait_set_destroy: wait set is NULL");
        return MINIRMW_INVALID_ARGUMENT;
    }
    minirmw_context_t* context = wait_set->context;
    pthread_mutex_lock(&context->mutex);
    clearLocked(wait_set);
    context->wait_set_count--;
    pthread_mutex_unlock(&context->mutex);
    free(wait_set->subscriptions);
    free(wait_set->ready);
    free(wait_set);
    return MINIRMW_OK;
}
