/* C-level unit test of libstruct_demo: results, ownership and error paths, without Python. */
#include "struct_demo.h"

#include <math.h>
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

static InputRecord makeInput(const Item* items, size_t count) {
    InputRecord input = {"sensor-A", {2, {10, 20}}, {1.0, -2.0, 4.0, 3.0}, items, count};
    return input;
}

static void testSeriesExampleWithoutItems(void) {
    InputRecord input = makeInput(NULL, 0);
    OutputRecord out = transform_record(&input, 1.5, 20, 2);
    CHECK(out.status == SD_OK);
    CHECK(out.title && strcmp(out.title, "sensor-A v2 at (15, 30), scale 1.5: 0 of 0 items kept") == 0);
    CHECK(out.header.version == 2 && out.header.origin.x == 15 && out.header.origin.y == 30);
    CHECK(out.stats[0] == -3.0 && out.stats[1] == 6.0 && out.stats[2] == 2.25);
    CHECK(out.items == NULL && out.item_count == 0);
    free_output_record(&out);
    CHECK(out.title == NULL && out.items == NULL && out.status == SD_OK);
    free_output_record(&out); /* a second free is harmless by contract */
}

static void testFilterRankAndTopN(void) {
    const Item items[] = {
        {1, 10, "light"}, {2, 30, "heavy"}, {3, 25, "mid"}, {4, 30, "heavy-too"}, {5, 20, "edge"}};
    InputRecord input = makeInput(items, 5);
    OutputRecord out = transform_record(&input, 2.0, 20, 3);
    CHECK(out.status == SD_OK);
    CHECK(out.item_count == 3);
    /* score = weight * scale; ties (ids 2 and 4) rank by id ascending */
    CHECK(out.items[0].id == 2 && out.items[0].score == 60.0 && strcmp(out.items[0].label, "heavy") == 0);
    CHECK(out.items[1].id == 4 && strcmp(out.items[1].label, "heavy-too") == 0);
    CHECK(out.items[2].id == 3 && out.items[2].weight == 25 && out.items[2].score == 50.0);
    CHECK(out.items[0].label != items[1].label); /* the output owns copies, never borrows */
    CHECK(strcmp(out.title, "sensor-A v2 at (20, 40), scale 2: 3 of 5 items kept") == 0);
    free_output_record(&out);

    OutputRecord none = transform_record(&input, 2.0, 20, 0);
    CHECK(none.status == SD_OK && none.item_count == 0 && none.items == NULL);
    free_output_record(&none);
}

static void testHelpers(void) {
    const Item items[] = {{1, 5, "a"}, {2, 50, "b"}, {3, 7, "c"}};
    const Item* kept[3];
    CHECK(sd_filter_items(items, 3, 6, kept) == 2 && kept[0] == &items[1] && kept[1] == &items[2]);
    CHECK(sd_score_item(&items[1], -0.5) == -25.0);
    ScoredItem scored[] = {{1, 0, 1.0, NULL}, {2, 0, 3.0, NULL}, {3, 0, 3.0, NULL}, {4, 0, -1.0, NULL}};
    sd_rank_items(scored, 4);
    CHECK(scored[0].id == 2 && scored[1].id == 3 && scored[2].id == 1 && scored[3].id == 4);
    CHECK(sd_layout_size("OutputRecord") == sizeof(OutputRecord) && sd_layout_size("Nope") == 0);
}

static void testErrors(void) {
    OutputRecord out = transform_record(NULL, 1.0, 0, 1);
    CHECK(out.status == SD_ERR_NULL_ARGUMENT && out.title == NULL);
    free_output_record(&out);

    InputRecord missing = makeInput(NULL, 2);
    out = transform_record(&missing, 1.0, 0, 1);
    CHECK(out.status == SD_ERR_NULL_ARGUMENT);

    const Item unlabeled[] = {{1, 1, NULL}};
    InputRecord input = makeInput(unlabeled, 1);
    CHECK(transform_record(&input, 1.0, 0, 1).status == SD_ERR_NULL_ARGUMENT);

    input = makeInput(NULL, 0);
    CHECK(transform_record(&input, NAN, 0, 1).status == SD_ERR_BAD_ARGUMENT);
    CHECK(transform_record(&input, INFINITY, 0, 1).status == SD_ERR_BAD_ARGUMENT);
    CHECK(transform_record(&input, 1.0, 0, -1).status == SD_ERR_BAD_ARGUMENT);
    CHECK(transform_record(&input, 1e9, 0, 1).status == SD_ERR_BAD_ARGUMENT); /* origin overflows */
    CHECK(strcmp(sd_status_message(SD_ERR_NO_MEMORY), "out of memory") == 0);
    free_output_record(NULL);
}

int main(void) {
    testSeriesExampleWithoutItems();
    testFilterRankAndTopN();
    testHelpers();
    testErrors();
    if (g_failures) {
        fprintf(stderr, "test_struct_demo: %d check(s) failed\n", g_failures);
        return 1;
    }
    puts("test_struct_demo: all checks passed");
    return 0;
}
