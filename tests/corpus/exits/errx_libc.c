/* exit() from inside libc: errx() prints "NAME: message" and calls libc's own exit(3). */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>

static void handler(void) { printf("atexit handler ran\n"); }

int main(void) {
    atexit(handler);
    printf("buffered before errx");
    errx(3, "failing with %d", 42);
}
