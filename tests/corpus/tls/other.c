/* The other translation unit of threads.c: extern TLS across objects. */
__thread int shared_counter = 5;
__thread char other_buf[32];
static __thread int calls;

int other_bump(int by) {
    calls += by;
    return calls * 2 + shared_counter;
}
