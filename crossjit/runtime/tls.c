/* crossjit's thread-local storage runtime, linked into programs that have TLS.
 *
 * Why it exists: JIT'd code is not in the dynamic linker's module list, so libc's
 * __tls_get_addr cannot find its variables. crossjit's linker (link/tls.py) gathers the
 * program's .tdata/.tbss into one module, describes it in a struct tls_module, points
 * every general-/local-dynamic access at a {module, offset} index entry and binds
 * __tls_get_addr to __crossjit_tls_get_addr below. Each thread gets its own block,
 * allocated and initialised from the module's init image on first use and freed when
 * the thread exits (a pthread key per module).
 *
 * On AArch64 the accesses are TLS descriptors: the resolver the linker places in the
 * image (link/arch/aarch64.py, machine code: llvmlite has no AArch64 assembler) saves
 * every register, calls __crossjit_tls_get_addr and returns the offset from TPIDR_EL0.
 *
 * It also keeps C++ thread_local destructors (__cxa_thread_atexit) per thread: they run
 * when the thread exits, and those of the thread running main before the program's
 * atexit handlers (crt.c calls __crossjit_thread_exit), as glibc's exit() does. The
 * executor outlives the program, so crossjit calls __crossjit_tls_teardown before it
 * releases the memory: the keys are deleted and no thread exit can call into released
 * code afterwards.
 *
 * Freestanding like crt.c: no headers, any target triple. pthread_key_t is an unsigned
 * int in glibc and musl alike.
 */

typedef unsigned long usize;
typedef unsigned int key_t_;

extern int pthread_key_create(key_t_ *, void (*)(void *));
extern int pthread_key_delete(key_t_);
extern void *pthread_getspecific(key_t_);
extern int pthread_setspecific(key_t_, const void *);
extern int posix_memalign(void **, usize, usize);
extern void *malloc(usize);
extern void free(void *);
extern void *memcpy(void *, const void *, usize);
extern void *memset(void *, int, usize);
extern long write(int, const void *, usize);
extern int sched_yield(void);
extern void abort(void) __attribute__((noreturn));

/* Written by the JIT linker (link/tls.py: MODULE_SIZE and the field offsets). */
struct tls_module {
    key_t_ key;
    int state; /* KEY_NONE, KEY_BUSY (being created), KEY_READY, KEY_FAILED */
    const void *init;
    usize init_size, size, align;
};
struct tls_index { struct tls_module *module; usize offset; };

enum { KEY_NONE = 0, KEY_BUSY = 1, KEY_READY = 2, KEY_FAILED = 3 };

static __attribute__((noreturn)) void fail(const char *msg, usize len) {
    write(2, msg, len);
    abort();
}
#define FAIL(s) fail("crossjit runtime: " s "\n", sizeof("crossjit runtime: " s "\n") - 1)

/* Creates *key once, whichever thread gets here first; the others wait for it. */
static int key_once(int *state, key_t_ *key, void (*dtor)(void *)) {
    int s = __atomic_load_n(state, __ATOMIC_ACQUIRE);
    if (s == KEY_READY) return 1;
    int expected = KEY_NONE;
    if (__atomic_compare_exchange_n(state, &expected, KEY_BUSY, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        int rc = pthread_key_create(key, dtor);
        __atomic_store_n(state, rc ? KEY_FAILED : KEY_READY, __ATOMIC_RELEASE);
        return !rc;
    }
    while ((s = __atomic_load_n(state, __ATOMIC_ACQUIRE)) == KEY_BUSY) sched_yield();
    return s == KEY_READY;
}

/* --- C++ thread_local destructors ---------------------------------------------------- */

struct dtor { void (*fn)(void *); void *obj; struct dtor *next; };
static key_t_ dtor_key;
static int dtor_state;

/* The calling thread's destructors, newest first; re-registration while they run works. */
static void run_dtors(void) {
    if (__atomic_load_n(&dtor_state, __ATOMIC_ACQUIRE) != KEY_READY) return;
    struct dtor *d;
    while ((d = pthread_getspecific(dtor_key)) != 0) {
        pthread_setspecific(dtor_key, d->next); /* popped first: a throw cannot repeat it */
        d->fn(d->obj);
        free(d);
    }
}

/* Key destructor at thread exit: libc already cleared the slot; put the list back. */
static void dtors_at_exit(void *head) {
    pthread_setspecific(dtor_key, head);
    run_dtors();
}

int __cxa_thread_atexit(void (*fn)(void *), void *obj, void *dso) {
    (void)dso; /* the whole JIT'd program is one DSO, torn down as one */
    if (!key_once(&dtor_state, &dtor_key, dtors_at_exit)) return -1;
    struct dtor *d = malloc(sizeof *d);
    if (!d) return -1;
    d->fn = fn;
    d->obj = obj;
    d->next = pthread_getspecific(dtor_key);
    if (pthread_setspecific(dtor_key, d)) {
        free(d);
        return -1;
    }
    return 0;
}

/* --- the TLS blocks ------------------------------------------------------------------ */

static struct tls_module *the_module; /* one module per link image */

/* A thread's block at its exit: its thread_local objects are destroyed first, since they
 * live in it (the order libc runs key destructors in is unspecified). */
static void free_block(void *block) {
    run_dtors();
    free(block);
}

void *__crossjit_tls_get_addr(struct tls_index *ti) {
    struct tls_module *m = ti->module;
    if (!key_once(&m->state, &m->key, free_block))
        FAIL("cannot create a pthread key for thread-local storage (too many keys?)");
    char *block = pthread_getspecific(m->key);
    if (!block) {
        usize align = m->align < sizeof(void *) ? sizeof(void *) : m->align;
        usize size = (m->size + align - 1) & ~(align - 1);
        void *p;
        if (posix_memalign(&p, align, size ? size : align))
            FAIL("out of memory allocating a thread-local storage block");
        memcpy(p, m->init, m->init_size);
        memset((char *)p + m->init_size, 0, size - m->init_size);
        if (pthread_setspecific(m->key, p))
            FAIL("cannot set a thread's thread-local storage block");
        __atomic_store_n(&the_module, m, __ATOMIC_RELEASE);
        block = p;
    }
    return block + ti->offset;
}

/* --- program end ---------------------------------------------------------------------- */

/* crt.c calls this (hook pointer, so crt.c links without tls.c) before atexit handlers. */
extern void (*__crossjit_thread_exit)(void) __attribute__((visibility("hidden")));

__attribute__((constructor(101))) static void install_hook(void) {
    __crossjit_thread_exit = run_dtors;
}

/* Called by crossjit (run_as_main) before it releases the program: the calling thread's
 * block is freed and the keys are deleted, so threads that exit later (the executor's)
 * run none of the released code. Blocks of other threads still alive are leaked. */
int __crossjit_tls_teardown(int argc, char **argv) {
    (void)argc;
    (void)argv;
    struct tls_module *m = __atomic_load_n(&the_module, __ATOMIC_ACQUIRE);
    if (m && __atomic_load_n(&m->state, __ATOMIC_ACQUIRE) == KEY_READY) {
        void *block = pthread_getspecific(m->key);
        pthread_setspecific(m->key, 0);
        free(block);
        pthread_key_delete(m->key);
        m->state = KEY_NONE;
    }
    if (__atomic_load_n(&dtor_state, __ATOMIC_ACQUIRE) == KEY_READY) {
        pthread_key_delete(dtor_key);
        dtor_state = KEY_NONE;
    }
    return 0;
}
