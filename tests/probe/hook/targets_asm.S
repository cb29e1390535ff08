/* Hand-written prologues for the hook engine tests: each function starts with exactly the
   instruction pattern a test needs (compilers would not promise these bytes). */
    .intel_syntax noprefix
    .text

/* endbr64, then ordinary instructions: returns a + b. */
    .globl lt_t_endbr_add
    .type lt_t_endbr_add, @function
lt_t_endbr_add:
    endbr64
    mov rax, rdi
    add rax, rsi
    nop
    nop
    ret
    .size lt_t_endbr_add, .-lt_t_endbr_add

/* A RIP-relative load as the very first instruction: returns x + lt_t_base. */
    .globl lt_t_riprel
    .type lt_t_riprel, @function
lt_t_riprel:
    mov rax, qword ptr [rip + lt_t_base_private]
    add rax, rdi
    ret
    .size lt_t_riprel, .-lt_t_riprel

/* An SSE compare against a RIP-relative constant first (Capstone 4 reports no displacement
   offset for it): returns 1 when x > 2.5, else 0. */
    .globl lt_t_sse_riprel
    .type lt_t_sse_riprel, @function
lt_t_sse_riprel:
    ucomisd xmm0, qword ptr [rip + lt_t_two_and_a_half]
    mov eax, 0
    seta al
    ret
    .size lt_t_sse_riprel, .-lt_t_sse_riprel

/* A leaf entered with rsp 16-byte aligned (i.e. misaligned by the ABI's rule), as GCC's
   -fipa-stack-alignment produces for calls to local functions; it also uses the red zone.
   lt_t_call_misaligned(x) returns x + 100. */
    .globl lt_t_leaf_red
    .type lt_t_leaf_red, @function
lt_t_leaf_red:
    add rdi, 100
    mov qword ptr [rsp - 8], rdi
    mov rax, qword ptr [rsp - 8]
    ret
    .size lt_t_leaf_red, .-lt_t_leaf_red
lt_t_leaf_red_private = lt_t_leaf_red

    .globl lt_t_call_misaligned
    .type lt_t_call_misaligned, @function
lt_t_call_misaligned:
    sub rsp, 16
    call lt_t_leaf_red_private
    add rsp, 16
    ret
    .size lt_t_call_misaligned, .-lt_t_call_misaligned

/* A short conditional branch inside the displaced bytes: x == 0 ? -1 : 2 * x. */
    .globl lt_t_jcc
    .type lt_t_jcc, @function
lt_t_jcc:
    test rdi, rdi
    jz 1f
    lea rax, [rdi + rdi]
    ret
1:  mov rax, -1
    ret
    .size lt_t_jcc, .-lt_t_jcc

/* Too short to hold a 5-byte jump: must be refused. */
    .globl lt_t_tiny
    .type lt_t_tiny, @function
lt_t_tiny:
    xor eax, eax
    ret
    .size lt_t_tiny, .-lt_t_tiny
    int3
    int3
    int3

/* Equally short, but followed by alignment padding (nops) up to a 16-byte boundary: with its
   size known, the patch may spill into the padding. Returns x + 7. */
    .p2align 4
    .globl lt_t_tiny_padded
    .type lt_t_tiny_padded, @function
lt_t_tiny_padded:
    lea eax, [rdi + 7]
    ret
    .size lt_t_tiny_padded, .-lt_t_tiny_padded
    .p2align 4

/* A loop whose back edge lands inside the first bytes: must be refused. Sum of 1..n. */
    .globl lt_t_loop
    .type lt_t_loop, @function
lt_t_loop:
    xor eax, eax
2:  add rax, rdi
    dec rdi
    jnz 2b
    ret
    .size lt_t_loop, .-lt_t_loop

/* A 2-byte indirect call first: the patch would overwrite past it, so it must be refused. */
    .globl lt_t_calls_reg
    .type lt_t_calls_reg, @function
lt_t_calls_reg:
    call rdi
    add eax, 1
    ret
    .size lt_t_calls_reg, .-lt_t_calls_reg

/* A call as the whole displaced range: relocated so that the callee returns into the original. */
    .globl lt_t_calls_first
    .type lt_t_calls_first, @function
lt_t_calls_first:
    call lt_t_tiny_private
    add eax, 1
    ret
    .size lt_t_calls_first, .-lt_t_calls_first
    .type lt_t_tiny_private, @function
lt_t_tiny_private:              /* local: only in .symtab */
    xor eax, eax
    ret
    .size lt_t_tiny_private, .-lt_t_tiny_private

/* A tail jump as the whole function: relocated as an absolute jump. */
    .globl lt_t_tailjump
    .type lt_t_tailjump, @function
lt_t_tailjump:
    jmp lt_t_endbr_add@PLT      /* rel32 (a local target would get a 2-byte jmp) */
    .size lt_t_tailjump, .-lt_t_tailjump

    .data
    .balign 8
    .globl lt_t_base
lt_t_base:
lt_t_base_private:
    .quad 1000
lt_t_two_and_a_half:
    .double 2.5

    .section .note.GNU-stack,"",@progbits
