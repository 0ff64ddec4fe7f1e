/* exit() from another thread than main's: the whole process ends, handlers run once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void handler(void) { printf("atexit handler ran\n"); }

static void *worker(void *arg) {
    (void)arg;
    printf("worker calls exit(6)\n");
    exit(6);
}

int main(void) {
    pthread_t t;
    atexit(handler);
    pthread_create(&t, NULL, worker, NULL);
    pthread_join(t, NULL);
    for (;;) pause(); /* never returns: the worker's exit ends the process */
}
