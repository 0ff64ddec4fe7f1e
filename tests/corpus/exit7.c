#include <stdio.h>
#include <stdlib.h>
static void handler(void) { printf("atexit before exit\n"); }
static void leave(int code) { exit(code); }
int main(void) {
    atexit(handler);
    printf("about to exit");
    leave(7);
    return 0;
}
