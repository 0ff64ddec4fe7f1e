/* A signal the program does not survive, raised through libc: status 143. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static void handler(void) { printf("never printed\n"); }

int main(void) {
    atexit(handler);
    printf("before raise\n");
    fflush(stdout);
    raise(SIGTERM);
    printf("not reached\n");
    return 0;
}
