/* libstruct_demo.so: the Part IV target library, a plain C record transformer with heap-owning output. */
#include "struct_demo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char* copyString(const char* text) {
    size_t size = strlen(text) + 1;
    char* copy = malloc(size);
    if (copy) {
        memcpy(copy, text, size);
    }
    return copy;
}

/* round() then range-check: a scaled coordinate that does not fit int32 is the caller's error,
 * not something to wrap silently. */
static int scaleCoordinate(int32_t value, double scale, int32_t* result) {
    double scaled = round((double)value * scale);
    if (!(scaled >= (double)INT32_MIN && scaled <= (double)INT32_MAX)) {
        return 0;
    }
    *result = (int32_t)scaled;
    return 1;
}

static OutputRecord failed(OutputRecord* partial, SdStatus status) {
    free_output_record(partial);
    partial->status = status;
    return *partial;
}

size_t sd_filter_items(const Item* items, size_t count, int min_weight, const Item** kept) {
    size_t kept_count = 0;
    for (size_t i = 0; i < count; ++i) {
        if (items[i].weight >= min_weight) {
            kept[kept_count++] = &items[i];
        }
    }
    return kept_count;
}

double sd_score_item(const Item* item, double scale) {
    return (double)item->weight * scale;
}

/* Insertion sort: stable, allocation-free and fast for the handful of items a record carries. */
void sd_rank_items(ScoredItem* items, size_t count) {
    for (size_t i = 1; i < count; ++i) {
        ScoredItem current = items[i];
        size_t j = i;
        while (j > 0 && (items[j - 1].score < current.score ||
                         (items[j - 1].score == current.score && items[j - 1].id > current.id))) {
            items[j] = items[j - 1];
            --j;
        }
        items[j] = current;
    }
}

char* sd_format_title(const char* name, const Header* header, double scale, size_t kept, size_t total) {
    static const char format[] = "%s v%u at (%d, %d), scale %g: %zu of %zu items kept";
    int length = snprintf(NULL, 0, format, name, (unsigned)header->version, (int)header->origin.x,
                          (int)header->origin.y, scale, kept, total);
    if (length < 0) {
        return NULL;
    }
    char* title = malloc((size_t)length + 1);
    if (title) {
        snprintf(title, (size_t)length + 1, format, name, (unsigned)header->version, (int)header->origin.x,
                 (int)header->origin.y, scale, kept, total);
    }
    return title;
}

OutputRecord transform_record(const InputRecord* input, double scale, int min_weight, int top_n) {
    OutputRecord out;
    memset(&out, 0, sizeof out);

    if (!input || !input->name || (input->item_count > 0 && !input->items)) {
        return failed(&out, SD_ERR_NULL_ARGUMENT);
    }
    for (size_t i = 0; i < input->item_count; ++i) {
        if (!input->items[i].label) {
            return failed(&out, SD_ERR_NULL_ARGUMENT);
        }
    }
    if (!isfinite(scale) || top_n < 0) {
        return failed(&out, SD_ERR_BAD_ARGUMENT);
    }

    out.header.version = input->header.version;
    if (!scaleCoordinate(input->header.origin.x, scale, &out.header.origin.x) ||
        !scaleCoordinate(input->header.origin.y, scale, &out.header.origin.y)) {
        return failed(&out, SD_ERR_BAD_ARGUMENT);
    }

    double sum = 0.0;
    for (size_t i = 0; i < SD_SAMPLE_COUNT; ++i) {
        double value = input->samples[i] * scale;
        out.stats[0] = (i == 0 || value < out.stats[0]) ? value : out.stats[0];
        out.stats[1] = (i == 0 || value > out.stats[1]) ? value : out.stats[1];
        sum += value;
    }
    out.stats[2] = sum / SD_SAMPLE_COUNT;

    /* Every step runs even for an empty record, so each call has the same shape of nested calls. */
    const Item** kept = NULL;
    if (input->item_count > 0) {
        kept = malloc(input->item_count * sizeof *kept);
        if (!kept) {
            return failed(&out, SD_ERR_NO_MEMORY);
        }
    }
    size_t filtered = sd_filter_items(input->items, input->item_count, min_weight, kept);
    if (filtered > 0) {
        out.items = calloc(filtered, sizeof *out.items);
        if (!out.items) {
            free(kept);
            return failed(&out, SD_ERR_NO_MEMORY);
        }
        /* item_count covers every allocated entry until the surplus is released below, so a failure
         * half-way lets free_output_record() clean up whatever was copied so far. */
        out.item_count = filtered;
        for (size_t i = 0; i < filtered; ++i) {
            out.items[i].id = kept[i]->id;
            out.items[i].weight = kept[i]->weight;
            out.items[i].score = sd_score_item(kept[i], scale);
            out.items[i].label = copyString(kept[i]->label);
            if (!out.items[i].label) {
                free(kept);
                return failed(&out, SD_ERR_NO_MEMORY);
            }
        }
    }
    free(kept);

    sd_rank_items(out.items, out.item_count);
    size_t keep = filtered < (size_t)top_n ? filtered : (size_t)top_n;
    for (size_t i = keep; i < out.item_count; ++i) {
        free(out.items[i].label);
        out.items[i].label = NULL;
    }
    out.item_count = keep;
    if (keep == 0) {
        free(out.items);
        out.items = NULL;
    }

    out.title = sd_format_title(input->name, &out.header, scale, keep, input->item_count);
    if (!out.title) {
        return failed(&out, SD_ERR_NO_MEMORY);
    }
    out.status = SD_OK;
    return out;
}

void free_output_record(OutputRecord* output) {
    if (!output) {
        return;
    }
    for (size_t i = 0; output->items && i < output->item_count; ++i) {
        free(output->items[i].label);
    }
    free(output->items);
    free(output->title);
    memset(output, 0, sizeof *output);
}

const char* sd_status_message(int status) {
    switch (status) {
    case SD_OK:
        return "ok";
    case SD_ERR_NULL_ARGUMENT:
        return "a required pointer (input, name, item label or items) is NULL";
    case SD_ERR_BAD_ARGUMENT:
        return "scale is not finite, top_n is negative, or the scaled origin does not fit in int32";
    case SD_ERR_NO_MEMORY:
        return "out of memory";
    default:
        return "unknown status";
    }
}

size_t sd_layout_size(const char* type_name) {
    static const struct {
        const char* name;
        size_t size;
    } sizes[] = {{"Point", sizeof(Point)},
                 {"Header", sizeof(Header)},
                 {"Item", sizeof(Item)},
                 {"InputRecord", sizeof(InputRecord)},
                 {"ScoredItem", sizeof(ScoredItem)},
                 {"OutputRecord", sizeof(OutputRecord)}};
    for (size_t i = 0; type_name && i < sizeof sizes / sizeof sizes[0]; ++i) {
        if (strcmp(sizes[i].name, type_name) == 0) {
            return sizes[i].size;
        }
    }
    return 0;
}
