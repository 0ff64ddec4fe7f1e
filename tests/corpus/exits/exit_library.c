/* exit() from a shared library (libquit.so, --dlopen): the program's handlers still run. */
#include <stdio.h>
#include <stdlib.h>

void quit_from_library(int code);

static void first(void) { printf("first handler\n"); }
static void second(void) { printf("second handler\n"); }

int main(void) {
    atexit(first);
    atexit(second);
    printf("main calls the library\n");
    quit_from_library(4);
    return 0;
}
