/* Many short-lived threads, a few at a time: each sees fresh initial values, and the
 * blocks are freed at thread exit (256 KiB of .tbss each: 1000 leaked ones would add
 * 250 MiB to the resident set). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define THREADS 1000
#define BATCH 8
#define BIG (256 * 1024)

static __thread char big[BIG];
static __thread int init = 42;
__thread const char *name = "fresh";
static int bad;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static long resident_kib(void) {
    long size = 0, pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &size, &pages) != 2) pages = -1;
    fclose(f);
    return pages * 4;
}

static void *work(void *arg) {
    (void)arg;
    int ok = init == 42 && big[0] == 0 && big[BIG - 1] == 0 && name[0] == 'f';
    init = 0;
    name = "used";
    memset(big, 0x5a, sizeof big);
    if (!ok) {
        pthread_mutex_lock(&lock);
        bad++;
        pthread_mutex_unlock(&lock);
    }
    return 0;
}

int main(void) {
    pthread_t t[BATCH];
    work(0);
    long before = resident_kib();
    for (int done = 0; done < THREADS; done += BATCH) {
        for (int i = 0; i < BATCH; i++) pthread_create(&t[i], 0, work, 0);
        for (int i = 0; i < BATCH; i++) pthread_join(t[i], 0);
    }
    long grown = resident_kib() - before;
    printf("threads=%d bad=%d main init=%d name=%s\n", THREADS, bad, init, name);
    printf("resident set grew by less than 64 MiB: %s\n", grown < 64 * 1024 ? "yes" : "no");
    if (grown >= 64 * 1024) fprintf(stderr, "grew by %ld KiB\n", grown);
    return bad;
}
