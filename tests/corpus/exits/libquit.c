/* A shared library that ends the process itself (built by the test with cc -shared). */
#include <stdio.h>
#include <stdlib.h>

void quit_from_library(int code) {
    printf("library calls exit(%d)\n", code);
    exit(code);
}
