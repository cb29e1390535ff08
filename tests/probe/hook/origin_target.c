/* Lives only in the loader's $ORIGIN/origin_sub directory: found through its RPATH alone. */
__attribute__((visibility("default"))) int lt_origin_value(void) { return 1234; }
