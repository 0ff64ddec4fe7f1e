/* JIT'd code on many threads at once, under load: its own pthreads, a library's worker
 * threads calling back into it, and both together (JIT'd threads that each start library
 * workers). Every thread keeps its own TLS state; results are per worker, so the output
 * does not depend on scheduling. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

int spawn_workers(int n, int iters, void (*cb)(int, int, void *), void *ctx, int first);

#define JIT_THREADS 32
#define LIB_WORKERS 16
#define NESTED 4
#define MAX_WORKERS (LIB_WORKERS + JIT_THREADS * NESTED)

static __thread long calls;          /* per thread: how often this thread was called */
static __thread uint64_t hash = 1469598103934665603ull;
__thread int last_worker = -1;
static uint64_t results[MAX_WORKERS];
static long counts[MAX_WORKERS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long total;

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ull; }

struct ctx { int iters; };

static void callback(int worker, int i, void *p) {
    struct ctx *c = p;
    if (last_worker != -1 && last_worker != worker) {
        fprintf(stderr, "thread-local state of worker %d seen by worker %d\n", last_worker,
                worker);
    }
    last_worker = worker;
    calls++;
    hash = mix(hash, (uint64_t)worker * 1000003u + (uint64_t)i);
    if (i == c->iters - 1) {
        results[worker] = hash;
        counts[worker] = calls;
        pthread_mutex_lock(&lock);
        total += calls;
        pthread_mutex_unlock(&lock);
    }
}

static uint64_t jit_results[JIT_THREADS];

static void *jit_thread(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < 1000000; i++) hash = mix(hash, (uint64_t)(id * 7 + i));
    jit_results[id] = hash;
    return 0;
}

static void *nesting_thread(void *arg) {
    int id = (int)(intptr_t)arg;
    struct ctx c = {20000};
    if (spawn_workers(NESTED, c.iters, callback, &c, LIB_WORKERS + id * NESTED))
        fprintf(stderr, "spawn_workers failed\n");
    return 0;
}

int main(void) {
    pthread_t t[JIT_THREADS];
    for (int i = 0; i < JIT_THREADS; i++) pthread_create(&t[i], 0, jit_thread, (void *)(intptr_t)i);
    for (int i = 0; i < JIT_THREADS; i++) pthread_join(t[i], 0);
    for (int i = 0; i < JIT_THREADS; i++)
        printf("jit thread %2d: %016llx\n", i, (unsigned long long)jit_results[i]);

    struct ctx c = {200000};
    if (spawn_workers(LIB_WORKERS, c.iters, callback, &c, 0)) return 2;
    for (int i = 0; i < LIB_WORKERS; i++)
        printf("library worker %2d: calls=%ld %016llx\n", i, counts[i],
               (unsigned long long)results[i]);

    for (int i = 0; i < JIT_THREADS; i++)
        pthread_create(&t[i], 0, nesting_thread, (void *)(intptr_t)i);
    for (int i = 0; i < JIT_THREADS; i++) pthread_join(t[i], 0);
    uint64_t all = 0;
    for (int i = LIB_WORKERS; i < MAX_WORKERS; i++) {
        if (counts[i] != 20000) printf("nested worker %d: calls=%ld\n", i, counts[i]);
        all = mix(all, results[i]);
    }
    printf("nested workers: %d, combined %016llx\n", JIT_THREADS * NESTED,
           (unsigned long long)all);
    printf("total callbacks %ld, main thread calls=%ld last_worker=%d\n", total, calls,
           last_worker);
    return 0;
}
