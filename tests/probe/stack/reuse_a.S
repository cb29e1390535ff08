/* reuse_fn(cb, data) calls cb(data) from a small rsp-based frame (CFA = rsp + 32). reuse_b.S
   has the same function at the same offsets with an rbp-based 4 KiB frame: a walk that kept
   this library's cached rule after dlclose would misread a frame of that one. */
    .text
    .globl reuse_fn
    .type reuse_fn, @function
    .p2align 4
reuse_fn:
    .cfi_startproc
    sub $24, %rsp
    .cfi_adjust_cfa_offset 24
    mov %rdi, %rax
    mov %rsi, %rdi
    .org reuse_fn + 32, 0x90
    call *%rax
    add $24, %rsp
    .cfi_adjust_cfa_offset -24
    ret
    .cfi_endproc
    .size reuse_fn, .-reuse_fn
    .section .note.GNU-stack,"",@progbits
