/* Module-level assembly defining a global function (issue 14, item 2). */
#include <stdio.h>

#if defined(__aarch64__)
__asm__(".text\n"
        ".globl triple_it\n"
        ".type triple_it,%function\n"
        "triple_it:\n"
        "  add w0, w0, w0, lsl #1\n"
        "  ret\n"
        ".size triple_it, .-triple_it\n");
#else
__asm__(".text\n"
        ".globl triple_it\n"
        ".type triple_it,@function\n"
        "triple_it:\n"
        "  leal (%rdi,%rdi,2), %eax\n"
        "  ret\n"
        ".size triple_it, .-triple_it\n");
#endif

int triple_it(int);

int main(void) {
    printf("module asm: %d %d\n", triple_it(14), triple_it(-3));
    return triple_it(2);
}
