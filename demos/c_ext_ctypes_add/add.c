/* libadd.so: the Layer 3 target library of Part III, an ordinary C library that knows nothing of Python. */
#include "add.h"

int add(int a, int b) {
    /* Signed overflow is undefined in C; doing the sum in unsigned arithmetic keeps it defined and
     * the conversion back is implementation-defined (two's complement wrap on every gcc target). */
    return (int)((unsigned int)a + (unsigned int)b);
}
