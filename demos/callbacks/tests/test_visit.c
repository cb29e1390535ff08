/* C-level unit test of libvisit: sorting and visiting with plain C callbacks, without Python. */
#include "visit.h"

#include <stdio.h>
#include <string.h>

static int g_failures = 0;

#define CHECK(condition)                                                                                     \
    do {                                                                                                     \
        if (!(condition)) {                                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition);                    \
            ++g_failures;                                                                                    \
        }                                                                                                    \
    } while (0)

static int byValue(const VisitRecord* left, const VisitRecord* right, void* context) {
    ++*(int*)context;
    return (left->value > right->value) - (left->value < right->value);
}

static int stopAtNegative(const VisitRecord* record, size_t index, void* context) {
    size_t* last = context;
    *last = index;
    return record->value < 0;
}

int main(void) {
    VisitRecord records[] = {{1, 3.0, "c"}, {2, 1.0, "a"}, {3, 3.0, "c2"}, {4, -1.0, "neg"}, {5, 2.0, "b"}};
    int seen = 0;
    long calls = visit_sort(records, 5, byValue, &seen);
    CHECK(calls == seen && calls > 0);
    const int expected[] = {4, 2, 5, 1, 3}; /* ids 1 and 3 tie: stable order keeps 1 first */
    for (int i = 0; i < 5; ++i) {
        CHECK(records[i].id == expected[i]);
    }
    CHECK(strcmp(records[0].name, "neg") == 0);

    size_t last = 99;
    CHECK(visit_each(records, 5, stopAtNegative, &last) == 1 && last == 0); /* stops at once */
    CHECK(visit_each(records + 1, 4, stopAtNegative, &last) == 4 && last == 3);

    CHECK(visit_sort(records, 1, byValue, &seen) == 0);
    CHECK(visit_sort(NULL, 0, byValue, &seen) == 0);
    CHECK(visit_sort(NULL, 2, byValue, &seen) == -1);
    CHECK(visit_sort(records, 2, NULL, NULL) == -1);
    CHECK(visit_each(records, 2, NULL, NULL) == -1);
    if (g_failures) {
        fprintf(stderr, "test_visit: %d check(s) failed\n", g_failures);
        return 1;
    }
    puts("test_visit: all checks passed");
    return 0;
}
