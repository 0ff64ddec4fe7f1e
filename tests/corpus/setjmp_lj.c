#include <setjmp.h>
#include <stdio.h>
static jmp_buf env;
static int depth;
static void dive(int n) {
    depth = n;
    if (n == 5) longjmp(env, n * 10);
    dive(n + 1);
}
int main(void) {
    volatile int rounds = 0;
    int r = setjmp(env);
    rounds++;
    if (r == 0) {
        dive(0);
        puts("not reached");
    }
    printf("longjmp returned %d at depth %d after %d rounds\n", r, depth, rounds);
    return r == 50 ? 0 : 1;
}
