/* Inline assembly in a function (issue 14, item 2): x86-64 (llvmlite's own asm parser)
   and AArch64 (through llc, see docs/aarch64.md). */
#include <stdio.h>

static int bump(int x) {
#if defined(__x86_64__)
    __asm__("addl $1, %0" : "+r"(x));
#elif defined(__aarch64__)
    __asm__("add %w0, %w0, #1" : "+r"(x));
#endif
    return x;
}

int main(void) {
    int total = 0;
    for (int i = 0; i < 10; i++) total += bump(i);
    printf("inline asm: %d\n", total);
    return total == 55 ? 0 : 1;
}
