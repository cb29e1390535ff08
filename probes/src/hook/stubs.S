/* Shared entry and exit stubs of the hook engine (x86-64 System V): save the argument/return
   registers, call into C (hook_engine.cpp), then continue into the original or the real caller. */

    .text
    .intel_syntax noprefix

/* Reached by `jmp` from a per-hook thunk with r11 = the HookRecord and [rsp] = the caller's
   return address, exactly as at the hooked function's first instruction. The stack is NOT
   assumed to be 16-byte aligned: GCC's -fipa-stack-alignment lets a caller skip the ABI
   alignment when calling a local function known not to need it, so rbp anchors the frame and
   rsp is aligned down. Frame layout below the aligned rsp (272 bytes):
     [0,120)   EntryRegs: rdi rsi rdx rcx r8 r9, rsp at entry, low lanes of xmm0-7
     [120]     rax (al = vector register count of a varargs call)
     [128]     r10 (static chain)
     [136,264) full xmm0-7 (vector arguments must reach the original intact)
   The CFI (CFA = rbp + 16) lets a stack captured inside the enter callback (the runtime unwinds
   with libunwind) walk through the stub into the hooked function's caller. */
    .globl lt_hook_entry_stub
    .hidden lt_hook_entry_stub
    .type lt_hook_entry_stub, @function
lt_hook_entry_stub:
    .cfi_startproc
    push rbp
    .cfi_adjust_cfa_offset 8
    .cfi_offset rbp, -16
    mov rbp, rsp
    .cfi_def_cfa_register rbp
    and rsp, -16
    sub rsp, 272
    mov [rsp+0], rdi
    mov [rsp+8], rsi
    mov [rsp+16], rdx
    mov [rsp+24], rcx
    mov [rsp+32], r8
    mov [rsp+40], r9
    mov [rsp+120], rax
    mov [rsp+128], r10
    lea rax, [rbp+8]
    mov [rsp+48], rax
    movsd [rsp+56], xmm0
    movsd [rsp+64], xmm1
    movsd [rsp+72], xmm2
    movsd [rsp+80], xmm3
    movsd [rsp+88], xmm4
    movsd [rsp+96], xmm5
    movsd [rsp+104], xmm6
    movsd [rsp+112], xmm7
    movdqu [rsp+136], xmm0
    movdqu [rsp+152], xmm1
    movdqu [rsp+168], xmm2
    movdqu [rsp+184], xmm3
    movdqu [rsp+200], xmm4
    movdqu [rsp+216], xmm5
    movdqu [rsp+232], xmm6
    movdqu [rsp+248], xmm7
    mov rdi, r11
    mov rsi, rsp
    call lt_hook_enter          /* returns where to continue: trampoline or import target */
    mov r11, rax
    mov rdi, [rsp+0]
    mov rsi, [rsp+8]
    mov rdx, [rsp+16]
    mov rcx, [rsp+24]
    mov r8, [rsp+32]
    mov r9, [rsp+40]
    mov rax, [rsp+120]
    mov r10, [rsp+128]
    movdqu xmm0, [rsp+136]
    movdqu xmm1, [rsp+152]
    movdqu xmm2, [rsp+168]
    movdqu xmm3, [rsp+184]
    movdqu xmm4, [rsp+200]
    movdqu xmm5, [rsp+216]
    movdqu xmm6, [rsp+232]
    movdqu xmm7, [rsp+248]
    mov rsp, rbp
    pop rbp
    .cfi_def_cfa rsp, 8
    jmp r11
    .cfi_endproc
    .size lt_hook_entry_stub, .-lt_hook_entry_stub

/* Reached by the hooked function's `ret` when lt_hook_enter replaced its return address. The
   real one is on the thread's shadow stack; lt_hook_exit pops it (also handling frames that a
   longjmp abandoned) and returns it. Return registers rax, rdx, xmm0, xmm1 are preserved in
   full; r11 (scratch in the ABI) carries the jump. Layout: [0,32) ExitRegs, [32,64) full
   xmm0-1, [64] rsp at exit. No CFI: the real return address is not on the stack here. */
    .globl lt_hook_exit_stub
    .hidden lt_hook_exit_stub
    .type lt_hook_exit_stub, @function
lt_hook_exit_stub:
    nop                         /* so that the stub's address-1 (what unwinders look up) is ours */
lt_hook_exit_stub_body:
    mov r11, rsp
    and rsp, -16
    sub rsp, 80
    mov [rsp+64], r11
    mov [rsp+0], rax
    mov [rsp+8], rdx
    movsd [rsp+16], xmm0
    movsd [rsp+24], xmm1
    movdqu [rsp+32], xmm0
    movdqu [rsp+48], xmm1
    mov rdi, rsp
    mov rsi, r11
    call lt_hook_exit
    mov r11, rax
    mov rax, [rsp+0]
    mov rdx, [rsp+8]
    movdqu xmm0, [rsp+32]
    movdqu xmm1, [rsp+48]
    mov rsp, [rsp+64]
    jmp r11
    .size lt_hook_exit_stub, .-lt_hook_exit_stub

    .section .note.GNU-stack,"",@progbits
