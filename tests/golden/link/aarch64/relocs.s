// Golden fixture (assembly half): one instruction or word per AArch64 relocation kind the
// JIT linker handles, assembled by regen.py with clang-16 --target=aarch64-linux-gnu.
// Targets are global and in other sections so the assembler leaves every relocation in.
    .text
    .globl a64_entry
    .type a64_entry, %function
    .p2align 2
a64_entry:
    adrp x0, d_byte                       // ADR_PREL_PG_HI21
    add  x0, x0, :lo12:d_byte             // ADD_ABS_LO12_NC
    ldrb w1, [x0, :lo12:d_byte]           // LDST8_ABS_LO12_NC
    ldrh w1, [x0, :lo12:d_half]           // LDST16_ABS_LO12_NC
    ldr  w1, [x0, :lo12:d_word]           // LDST32_ABS_LO12_NC
    ldr  x1, [x0, :lo12:d_dword]          // LDST64_ABS_LO12_NC
    ldr  q1, [x0, :lo12:d_quad]           // LDST128_ABS_LO12_NC
    str  x1, [x0, :lo12:d_dword+8]        // LDST64_ABS_LO12_NC with an addend
    adrp x0, d_far+0x12340                // ADR_PREL_PG_HI21 with an addend past a page
    adrp x2, :got:d_word                  // ADR_GOT_PAGE
    ldr  x2, [x2, :got_lo12:d_word]       // LD64_GOT_LO12_NC
    adrp x3, _GLOBAL_OFFSET_TABLE_        // ADR_PREL_PG_HI21 to the GOT base
    ldr  x3, [x3, #:gotpage_lo15:d_half]  // LD64_GOTPAGE_LO15
    movz x4, #:abs_g3:d_far               // MOVW_UABS_G3
    movk x4, #:abs_g2_nc:d_far            // MOVW_UABS_G2_NC
    movk x4, #:abs_g1_nc:d_far            // MOVW_UABS_G1_NC
    movk x4, #:abs_g0_nc:d_far            // MOVW_UABS_G0_NC
    ldr  x5, lit                          // LD_PREL_LO19
    ldr  w5, lit+4                        // LD_PREL_LO19, 32-bit, with an addend
    adr  x6, lit+3                        // ADR_PREL_LO21
    tbz  x0, #3, a64_other                // TSTBR14
    tbnz w0, #1, a64_other                // TSTBR14
    cbz  x0, a64_other                    // CONDBR19
    cbnz w0, a64_other                    // CONDBR19
    b.eq a64_other                        // CONDBR19
    bl   a64_other                        // CALL26 to another section
    bl   c_helper                         // CALL26 to another object
    b    a64_other+4                      // JUMP26 with an addend
    .size a64_entry, .-a64_entry

    .section .text.other, "ax", %progbits
    .globl a64_other
    .type a64_other, %function
    .p2align 2
a64_other:
    nop
    bl   a64_entry                        // CALL26 backwards
    ret
    .size a64_other, .-a64_other

    .section .rodata.lit, "a", %progbits
    .globl lit
    .p2align 3
lit:
    .quad 0x1122334455667788

    .data
    .globl d_byte, d_half, d_word, d_dword, d_quad, d_far
    .p2align 4
d_pad:   .quad 0, 0                        // so d_quad sits at a scaled, non-zero offset
d_quad:  .quad 1, 2
d_dword: .quad 3, 4
d_word:  .word 5
d_half:  .hword 6
d_byte:  .byte 7
    .p2align 3
d_ptrs:
    .quad a64_other                       // ABS64
    .quad a64_other + 8                   // ABS64 with an addend
    .word a64_entry + 4                   // ABS32
    .word a64_other - .                   // PREL32
    .quad a64_other - .                   // PREL64
    .word lit - . + 16                    // PREL32 with an addend
d_far:   .quad 0
