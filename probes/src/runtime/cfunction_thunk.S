/* The common body of the per-PyMethodDef stubs of cfunction_thunks.cpp (x86-64 System V).

   A stub is `lea r11, [rip + X]; jmp [r11 + 8]`: it reaches here with r11 = its data slot,
   whose first word is the ThunkRecord, and [rsp] = the interpreter's return address, exactly as
   at the original ml_meth's first instruction. The five argument registers an ml_meth can use
   (METH_METHOD|METH_FASTCALL|METH_KEYWORDS passes defining class, self, args, nargs, kwnames)
   are kept across lt_cthunk_enter, the original (ThunkRecord's first word) is called with them,
   and lt_cthunk_exit gets its result and returns what the interpreter receives. No ml_meth is
   variadic and none takes a vector argument, so al and xmm registers need no care.

   Frame (CFA = rbp + 16; rbx saved at CFA - 24): the CFI lets a native stack captured inside
   lt_cthunk_enter or inside the original walk through to the interpreter, and a C++ exception
   pass through (restoring rbx and rbp) like through any C frame. */

    .text
    .intel_syntax noprefix

    .globl lt_cfunction_thunk
    .hidden lt_cfunction_thunk
    .type lt_cfunction_thunk, @function
lt_cfunction_thunk:
    .cfi_startproc
    push rbp
    .cfi_adjust_cfa_offset 8
    .cfi_offset rbp, -16
    mov rbp, rsp
    .cfi_def_cfa_register rbp
    push rbx
    .cfi_offset rbx, -24
    and rsp, -16                /* callers are not trusted to keep the ABI alignment */
    sub rsp, 48
    mov rbx, [r11]              /* the ThunkRecord: callee-saved across both calls */
    mov [rsp+0], rdi
    mov [rsp+8], rsi
    mov [rsp+16], rdx
    mov [rsp+24], rcx
    mov [rsp+32], r8
    mov rdi, rbx
    call lt_cthunk_enter
    mov rdi, [rsp+0]
    mov rsi, [rsp+8]
    mov rdx, [rsp+16]
    mov rcx, [rsp+24]
    mov r8, [rsp+32]
    call [rbx]                  /* the original ml_meth (or module exec slot) */
    mov rdi, rbx
    mov rsi, rax
    mov rdx, rsp                /* the saved arguments: an exec slot's module is the first */
    call lt_cthunk_exit         /* returns the result unchanged */
    lea rsp, [rbp-8]
    pop rbx
    .cfi_restore rbx
    pop rbp
    .cfi_def_cfa rsp, 8
    ret
    .cfi_endproc
    .size lt_cfunction_thunk, .-lt_cfunction_thunk

    .section .note.GNU-stack,"",@progbits
