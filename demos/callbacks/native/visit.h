/* libvisit's public C interface: record algorithms that call back into caller-supplied functions. */
#ifndef LAYERTRACE_DEMO_VISIT_H
#define LAYERTRACE_DEMO_VISIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct VisitRecord {
    int32_t id;
    double value;
    const char* name; /* borrowed from the caller */
} VisitRecord;

/* Returns <0, 0 or >0 like strcmp. context is passed through untouched (the caller's state). */
typedef int (*visit_compare_fn)(const VisitRecord* left, const VisitRecord* right, void* context);

/* Returns 0 to continue, nonzero to stop the walk. */
typedef int (*visit_fn)(const VisitRecord* record, size_t index, void* context);

/* Sorts records in place, stably (equal records keep their order), calling compare for every
 * comparison. Returns the number of compare calls made, or -1 if records (with count > 0) or
 * compare is NULL. The callback never sees a record outside the array. */
long visit_sort(VisitRecord* records, size_t count, visit_compare_fn compare, void* context);

/* Calls visit on each record in order until it returns nonzero. Returns the number of calls made,
 * or -1 if records (with count > 0) or visit is NULL. */
long visit_each(const VisitRecord* records, size_t count, visit_fn visit, void* context);

#ifdef __cplusplus
}
#endif

#endif
