/* libvisit.so: plain C algorithms (sort, visit) whose every step calls back into the caller. */
#include "visit.h"

long visit_sort(VisitRecord* records, size_t count, visit_compare_fn compare, void* context) {
    if ((count > 0 && !records) || !compare) {
        return -1;
    }
    /* Insertion sort: stable and allocation-free, and it calls compare directly from this function,
     * so the native frame under every callback is visit_sort itself (no qsort in between). */
    long calls = 0;
    for (size_t i = 1; i < count; ++i) {
        VisitRecord current = records[i];
        size_t j = i;
        while (j > 0) {
            ++calls;
            if (compare(&records[j - 1], &current, context) <= 0) {
                break;
            }
            records[j] = records[j - 1];
            --j;
        }
        records[j] = current;
    }
    return calls;
}

long visit_each(const VisitRecord* records, size_t count, visit_fn visit, void* context) {
    if ((count > 0 && !records) || !visit) {
        return -1;
    }
    long calls = 0;
    for (size_t i = 0; i < count; ++i) {
        ++calls;
        if (visit(&records[i], i, context) != 0) {
            break;
        }
    }
    return calls;
}
