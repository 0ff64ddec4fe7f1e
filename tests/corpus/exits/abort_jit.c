/* abort() from JIT'd code: status 134, no handlers, buffered stdout lost (as natively). */
#include <stdio.h>
#include <stdlib.h>

static void handler(void) { printf("never printed\n"); }

int main(void) {
    atexit(handler);
    printf("flushed line\n");
    fflush(stdout);
    printf("buffered, lost");
    abort();
}
