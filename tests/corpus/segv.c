#include <stdio.h>
int *volatile target = 0;
__attribute__((noinline)) void poke(int v) { *target = v; }
int main(void) {
    fprintf(stderr, "poking\n");
    poke(1);
    return 0;
}
