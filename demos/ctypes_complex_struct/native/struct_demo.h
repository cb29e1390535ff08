/* libstruct_demo's public C interface: the record layouts Part IV mirrors with ctypes.Structure. */
#ifndef LAYERTRACE_DEMO_STRUCT_DEMO_H
#define LAYERTRACE_DEMO_STRUCT_DEMO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length of InputRecord.samples and OutputRecord.stats; mypkg/bindings.py mirrors these and the
 * tests compare them with sd_layout_size() so a drifting mirror fails loudly. */
#define SD_SAMPLE_COUNT 4
#define SD_STAT_COUNT 3 /* min, max, mean of the scaled samples */

typedef struct Point {
    int32_t x;
    int32_t y;
} Point;

typedef struct Header {
    uint32_t version;
    Point origin;
} Header;

typedef struct Item {
    int32_t id;
    int32_t weight;
    const char* label; /* borrowed: must stay valid for the duration of the call */
} Item;

/* Everything an InputRecord points to is borrowed for the duration of transform_record() only;
 * the library copies what it keeps, so the caller may free its buffers as soon as it returns. */
typedef struct InputRecord {
    const char* name;
    Header header;
    double samples[SD_SAMPLE_COUNT];
    const Item* items; /* item_count entries; may be NULL when item_count == 0 */
    size_t item_count;
} InputRecord;

typedef struct ScoredItem {
    int32_t id;
    int32_t weight;
    double score;
    char* label; /* owned by the OutputRecord */
} ScoredItem;

typedef enum SdStatus {
    SD_OK = 0,
    SD_ERR_NULL_ARGUMENT = 1, /* input, its name, an item label, or items with item_count > 0 */
    SD_ERR_BAD_ARGUMENT = 2,  /* scale not finite, top_n < 0, or the scaled origin overflows int32 */
    SD_ERR_NO_MEMORY = 3
} SdStatus;

/* Returned by value. On success it owns heap memory (title, items and their labels) that only
 * free_output_record() may release. On failure status != SD_OK and every pointer is NULL. */
typedef struct OutputRecord {
    int32_t status;
    char* title;
    Header header; /* the input header with its origin scaled (rounded to nearest) */
    double stats[SD_STAT_COUNT];
    ScoredItem* items; /* the top_n heaviest-scoring items with weight >= min_weight, best first */
    size_t item_count;
} OutputRecord;

/* Filters input->items by min_weight, scores them (weight * scale), ranks them (score descending,
 * id ascending on ties), keeps the best top_n, scales the origin and samples, and writes a title. */
OutputRecord transform_record(const InputRecord* input, double scale, int min_weight, int top_n);

/* Releases everything transform_record() allocated and resets the record to empty, so a second
 * call (or a call on a failed or zeroed record, or NULL) is harmless. */
void free_output_record(OutputRecord* output);

/* A static description of a status code, for error messages. */
const char* sd_status_message(int status);

/* sizeof of the public structs by name ("Point", "Header", "Item", "InputRecord", "ScoredItem",
 * "OutputRecord"), or 0 if unknown: lets bindings check their ctypes mirrors against the C layout. */
size_t sd_layout_size(const char* type_name);

/* The steps of transform_record(), exported so they are real calls a native tracer can see. */
size_t sd_filter_items(const Item* items, size_t count, int min_weight, const Item** kept);
double sd_score_item(const Item* item, double scale);
void sd_rank_items(ScoredItem* items, size_t count);
char* sd_format_title(const char* name, const Header* header, double scale, size_t kept, size_t total);

#ifdef __cplusplus
}
#endif

#endif
