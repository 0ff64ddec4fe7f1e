/* A tiny library whose worker threads call back into their caller (built by the test as
 * a shared library and dlopened into the executor): callbacks into JIT'd code from
 * threads JIT'd code did not create. */
#include <pthread.h>
#include <stdlib.h>

struct job {
    void (*cb)(int worker, int i, void *ctx);
    void *ctx;
    int worker, iters;
};

static void *run(void *p) {
    struct job *j = p;
    for (int i = 0; i < j->iters; i++) j->cb(j->worker, i, j->ctx);
    return 0;
}

/* Runs cb(worker, i, ctx) for i < iters on n threads at once; 0, or -1 on failure. */
int spawn_workers(int n, int iters, void (*cb)(int, int, void *), void *ctx, int first) {
    pthread_t *t = calloc((size_t)n, sizeof *t);
    struct job *jobs = calloc((size_t)n, sizeof *jobs);
    int started = 0, rc = 0;
    if (!t || !jobs) rc = -1;
    for (; rc == 0 && started < n; started++) {
        jobs[started] = (struct job){cb, ctx, first + started, iters};
        if (pthread_create(&t[started], 0, run, &jobs[started])) rc = -1;
    }
    for (int i = 0; i < started - (rc != 0); i++) pthread_join(t[i], 0);
    free(t);
    free(jobs);
    return rc;
}
