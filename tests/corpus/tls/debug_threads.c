/* For the debugger test: four JIT'd threads, one stops at a breakpoint while the others
 * wait at a barrier inside JIT'd code; gdb must list them all with JIT'd frames. */
#include <pthread.h>
#include <stdio.h>
#define N 4
static pthread_barrier_t all_started, release;
static __thread int mine;
void stop_here(int id) { mine = id; }
static void *worker(void *arg) {
    int id = (int)(long)arg;
    pthread_barrier_wait(&all_started);
    if (id == 0) stop_here(id);
    pthread_barrier_wait(&release);
    return 0;
}
int main(void) {
    pthread_t t[N];
    pthread_barrier_init(&all_started, 0, N);
    pthread_barrier_init(&release, 0, N);
    for (long i = 0; i < N; i++) pthread_create(&t[i], 0, worker, (void *)i);
    for (int i = 0; i < N; i++) pthread_join(t[i], 0);
    puts("done");
    return 0;
}
