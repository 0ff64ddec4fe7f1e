/* Registers live across thread-local accesses: the compiler may keep values in any of
 * x1-x28 and q0-q31 across an AArch64 TLS descriptor call (only x0 and the flags may
 * change), so a resolver that clobbers one shows up here as a wrong sum. Eight integer
 * and eight floating-point arguments arrive in x0-x7 / d0-d7 and stay there, a vector
 * in q-registers, while the function reads and writes several TLS variables. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

__thread long t1 = 1;
static __thread long t2 = 2;
__thread double t3 = 0.5;
static __thread int hits;

typedef float v4 __attribute__((vector_size(16)));

__attribute__((noinline)) double mix(long a, long b, long c, long d, long e, long f, long g,
                                     long h, double p, double q, double r, double s,
                                     double t, double u, double v, double w, v4 x) {
    t1 += a;
    t2 += b;
    hits++;
    long i = t1 + c + d;
    t3 *= p;
    hits++;
    long j = t2 + e + f + g + h;
    double k = t3 + q + r + s + t + u + v + w;
    hits++;
    return (double)(i + j + a + b) + k + p + x[0] + x[1] + x[2] + x[3] + hits;
}

static char lines[4][128]; /* printed by main in order: threads finish in any order */

static void *run(void *arg) {
    long id = (long)(intptr_t)arg;
    double sum = 0;
    for (int n = 0; n < 50; n++) {
        v4 x = {1.0f * n, 2.0f, 3.0f, 4.0f + (float)id};
        sum += mix(id, 2, 3, 4, 5, 6, 7, 8 + n, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5 + n, x);
    }
    snprintf(lines[id], sizeof lines[id], "thread %ld: sum=%.3f t1=%ld t2=%ld t3=%g hits=%d",
             id, sum, t1, t2, t3, hits);
    return 0;
}

int main(void) {
    pthread_t t[3];
    for (long i = 1; i <= 3; i++) pthread_create(&t[i - 1], 0, run, (void *)(intptr_t)i);
    for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
    run(0);
    for (int i = 0; i < 4; i++) puts(lines[i]);
    return 0;
}
