/* Per-thread TLS values while several threads run at once: general dynamic (extern,
 * across TUs), local dynamic (static, hidden), .tdata and .tbss, _Alignas(64), a .tdata
 * pointer to a string literal. Every thread writes its own values, waits until all
 * threads have written, then reads them back: a shared copy would show another's. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

extern __thread int shared_counter; /* other.c, .tdata */
extern __thread char other_buf[32]; /* other.c, .tbss */
int other_bump(int by);             /* other.c, its own static TLS */

__thread int gd = 100;
static __thread int ld = 7;
__attribute__((visibility("hidden"))) __thread long hid;
_Thread_local _Alignas(64) char aligned[3] = {1, 2, 3};
__thread const char *greeting = "hello";
static __thread unsigned zeros[64];

#define N 6
static pthread_barrier_t barrier;

struct result {
    int gd, ld, al, a64, counter, bump;
    long hid;
    unsigned zsum_before, zsum_after;
    char greeting[8], buf[8];
};
static struct result results[N + 1];

static unsigned zsum(void) {
    unsigned s = 0;
    for (int i = 0; i < 64; i++) s += zeros[i];
    return s;
}

static void *work(void *arg) {
    int id = (int)(intptr_t)arg;
    struct result *r = &results[id];
    r->zsum_before = zsum(); /* a fresh block: .tbss is zero */
    gd += id;
    ld *= id + 1;
    hid = id * 1000L;
    aligned[1] += id;
    shared_counter += id * 10;
    snprintf(other_buf, sizeof other_buf, "t%d", id);
    zeros[id] = id + 1;
    pthread_barrier_wait(&barrier);
    r->gd = gd;
    r->ld = ld;
    r->hid = hid;
    r->al = aligned[1];
    r->a64 = (uintptr_t)aligned % 64 == 0;
    r->counter = shared_counter;
    r->bump = other_bump(id);
    r->bump = other_bump(1);
    r->zsum_after = zsum();
    snprintf(r->greeting, sizeof r->greeting, "%s", greeting);
    snprintf(r->buf, sizeof r->buf, "%s", other_buf);
    return 0;
}

int main(void) {
    pthread_t t[N + 1];
    pthread_barrier_init(&barrier, 0, N + 1);
    for (int i = 1; i <= N; i++) pthread_create(&t[i], 0, work, (void *)(intptr_t)i);
    work((void *)0); /* the thread running main takes part too */
    for (int i = 1; i <= N; i++) pthread_join(t[i], 0);
    for (int i = 0; i <= N; i++) {
        struct result *r = &results[i];
        printf("thread %d: gd=%d ld=%d hid=%ld aligned=%d/%d counter=%d bump=%d "
               "zeros=%u->%u greeting=%s buf=%s\n",
               i, r->gd, r->ld, r->hid, r->al, r->a64, r->counter, r->bump, r->zsum_before,
               r->zsum_after, r->greeting, r->buf);
    }
    printf("main again: gd=%d ld=%d buf=%s\n", gd, ld, other_buf);
    return gd == 100 ? 0 : 1;
}
