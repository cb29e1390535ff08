/* The same reuse_fn as reuse_a.S, call at the same offset, but an rbp-based 4 KiB frame
   (CFA = rbp + 16, rsp + 4112 at the call). */
    .text
    .globl reuse_fn
    .type reuse_fn, @function
    .p2align 4
reuse_fn:
    .cfi_startproc
    push %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_offset %rbp, -16
    mov %rsp, %rbp
    .cfi_def_cfa_register %rbp
    sub $4096, %rsp
    mov %rdi, %rax
    mov %rsi, %rdi
    .org reuse_fn + 32, 0x90
    call *%rax
    leave
    .cfi_def_cfa %rsp, 8
    ret
    .cfi_endproc
    .size reuse_fn, .-reuse_fn
    .section .note.GNU-stack,"",@progbits
