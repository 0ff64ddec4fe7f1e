/* Threads calling into an archive member's TLS: each sees its own copy. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

int bump(int by);

static int results[4][2];

static void *work(void *arg) {
    int id = (int)(intptr_t)arg;
    results[id][0] = bump(id);
    results[id][1] = bump(id + 1);
    return 0;
}

int main(void) {
    pthread_t t[3];
    for (int i = 1; i <= 3; i++) pthread_create(&t[i - 1], 0, work, (void *)(intptr_t)i);
    for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
    work((void *)0);
    for (int i = 0; i < 4; i++) printf("thread %d: %d %d\n", i, results[i][0], results[i][1]);
    return 0;
}
