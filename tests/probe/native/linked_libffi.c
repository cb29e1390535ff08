/* A plain native program *linked* with libffi (not dlopen'ed, unlike ctypes): the probe patches
   libffi from its own constructor, before the program or its static initializers run. It makes
   three ffi_calls of lt_linked_mul(6, 7). */
#include <ffi.h>
#include <stdio.h>

__attribute__((noinline, visibility("default"))) int lt_linked_mul(int a, int b) {
    volatile int product = a * b;
    return product;
}

int main(void) {
    ffi_cif cif;
    ffi_type* argTypes[2] = {&ffi_type_sint32, &ffi_type_sint32};
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint32, argTypes) != FFI_OK) {
        fprintf(stderr, "linked_libffi: ffi_prep_cif failed\n");
        return 2;
    }
    int a = 6, b = 7;
    void* args[2] = {&a, &b};
    for (int i = 0; i < 3; ++i) {
        ffi_arg result = 0;
        ffi_call(&cif, FFI_FN(lt_linked_mul), &result, args);
        if ((int)result != 42) {
            fprintf(stderr, "linked_libffi: lt_linked_mul returned %d\n", (int)result);
            return 1;
        }
    }
    return 0;
}
