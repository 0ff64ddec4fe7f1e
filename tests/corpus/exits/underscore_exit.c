/* _exit(): no handlers, no stdio flush (what stdout still buffers is lost natively). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void handler(void) { printf("never printed\n"); }

int main(void) {
    atexit(handler);
    fprintf(stderr, "leaving with _exit(5)\n");
    printf("buffered, lost on glibc");
    _exit(5);
}
