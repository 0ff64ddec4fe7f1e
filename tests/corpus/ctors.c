#include <stdio.h>
#include <stdlib.h>
static int order[8], n;
__attribute__((constructor(200))) static void second(void) { order[n++] = 2; }
__attribute__((constructor(101))) static void first(void) { order[n++] = 1; }
__attribute__((constructor)) static void last(void) { order[n++] = 3; }
__attribute__((constructor)) static void last_too(void) { order[n++] = 4; } /* same priority */
__attribute__((destructor)) static void bye(void) { printf("destructor ran\n"); }
static void at_exit_handler(void) { printf("atexit handler ran\n"); }
int main(void) {
    atexit(at_exit_handler);
    printf("constructors ran in order:");
    for (int i = 0; i < n; i++) printf(" %d", order[i]);
    printf("\n");
    return n;
}
