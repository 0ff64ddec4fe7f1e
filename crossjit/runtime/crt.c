/* crossjit's program runtime, linked into every JIT'd program.
 *
 * Why it exists: the executor outlives the program (and the JIT memory is released
 * before the executor exits), so the things a normal C runtime does at process exit
 * must happen here, before run_as_main returns:
 *   - .init_array before main, .fini_array and atexit/__cxa_atexit handlers after it
 *     (handlers registered with the executor's libc would run after the code is gone);
 *   - exit(n) must end the *program*, not the executor, so the status reaches crossjit
 *     over every transport (a TCP peer cannot see the executor's exit status);
 *   - a fault (SIGSEGV ...) is caught and reported the same way, with the fault address
 *     and pc for crash symbolization;
 *   - stdio is flushed so output without a trailing newline appears.
 *
 * Freestanding on purpose: no headers, so it compiles for any target triple without a
 * sysroot. The few libc structures used (struct sigaction, stack_t) have the same
 * layout in glibc and musl on x86-64 and AArch64.
 */

typedef unsigned long usize;
typedef void (*init_fn)(int, char **, char **);
typedef void (*fini_fn)(void);

extern int main(int, char **, char **);
extern char **environ;
extern int fflush(void *);
extern void _exit(int) __attribute__((noreturn));
extern int sigaction(int, const void *, void *);
extern int sigaltstack(const void *, void *);

/* Defined by crossjit's JIT linker, like a static linker does. */
extern init_fn __init_array_start[] __attribute__((weak, visibility("hidden")));
extern init_fn __init_array_end[] __attribute__((weak, visibility("hidden")));
extern fini_fn __fini_array_start[] __attribute__((weak, visibility("hidden")));
extern fini_fn __fini_array_end[] __attribute__((weak, visibility("hidden")));

/* The JIT'd program is one "DSO" for __cxa_atexit's purposes. */
void *__dso_handle __attribute__((visibility("hidden"))) = &__dso_handle;

enum { OUT_RETURNED = 0, OUT_EXITED = 1, OUT_SIGNALLED = 2 };

static volatile int outcome_kind;
static volatile int outcome_value;
static volatile usize fault_addr;
static volatile usize fault_pc;
static void **volatile current_jb;

/* --- atexit / __cxa_atexit ------------------------------------------------------------ */

#define MAX_HANDLERS 1024
struct handler { void (*fn)(void *); void *arg; };
static struct handler handlers[MAX_HANDLERS];
static int nhandlers;

__attribute__((weak)) int __cxa_atexit(void (*fn)(void *), void *arg, void *dso) {
    (void)dso;
    if (nhandlers >= MAX_HANDLERS) return -1;
    handlers[nhandlers].fn = fn;
    handlers[nhandlers].arg = arg;
    nhandlers++;
    return 0;
}

__attribute__((weak)) int atexit(void (*fn)(void)) {
    return __cxa_atexit((void (*)(void *))fn, 0, 0);
}

/* --- exit() ends the program, not the executor ----------------------------------------- */

__attribute__((weak, noreturn)) void exit(int status) {
    if (!current_jb) {
        fflush(0);
        _exit(status); /* called outside main (e.g. another thread after main returned) */
    }
    outcome_kind = OUT_EXITED;
    outcome_value = status;
    __builtin_longjmp((void **)current_jb, 1);
}

/* Runs fn(arg); returns 1 if it left through exit() or a fault instead of returning. */
__attribute__((noinline)) static int guarded(void (*fn)(void *), void *arg) {
    void *jb[5];
    void **saved = current_jb;
    if (__builtin_setjmp(jb) == 0) {
        current_jb = jb;
        fn(arg);
        current_jb = saved;
        return 0;
    }
    current_jb = saved;
    return 1;
}

/* --- faults --------------------------------------------------------------------------- */

struct k_sigaction {
    void (*handler)(int, void *, void *);
    unsigned long mask[16];
    int flags;
    void (*restorer)(void);
};
struct k_stack { void *sp; int flags; usize size; };

#define SA_SIGINFO_ 4
#define SA_ONSTACK_ 0x08000000
#define SA_NODEFER_ 0x40000000 /* longjmp out of the handler must not leave it blocked */

static const int fault_signals[] = {4 /*ILL*/, 6 /*ABRT*/, 7 /*BUS*/, 8 /*FPE*/, 11 /*SEGV*/};
#define NFAULT (int)(sizeof fault_signals / sizeof fault_signals[0])
static struct k_sigaction saved_actions[NFAULT];
static struct k_stack saved_stack;
/* Its own stack, so a stack overflow in the program is reported instead of fatal. */
static char alt_stack[64 * 1024] __attribute__((aligned(16)));

static void on_fault(int sig, void *info, void *uctx) {
    outcome_kind = OUT_SIGNALLED;
    outcome_value = sig;
    fault_addr = *(usize *)((char *)info + 16); /* siginfo_t.si_addr on 64-bit Linux */
#if defined(__x86_64__)
    fault_pc = ((usize *)((char *)uctx + 40))[16]; /* uc_mcontext.gregs[REG_RIP] */
#elif defined(__aarch64__)
    fault_pc = *(usize *)((char *)uctx + 440); /* uc_mcontext.pc */
#else
    (void)uctx;
#endif
    if (current_jb) __builtin_longjmp((void **)current_jb, 1);
    /* No program running: restore the default action and let the signal kill us. */
    for (int i = 0; i < NFAULT; i++)
        if (fault_signals[i] == sig) sigaction(sig, &saved_actions[i], 0);
}

static void install_fault_handlers(void) {
    struct k_stack st = {alt_stack, 0, sizeof alt_stack};
    sigaltstack(&st, &saved_stack);
    struct k_sigaction sa = {0};
    sa.handler = on_fault;
    sa.flags = SA_SIGINFO_ | SA_ONSTACK_ | SA_NODEFER_;
    for (int i = 0; i < NFAULT; i++) sigaction(fault_signals[i], &sa, &saved_actions[i]);
}

static void restore_fault_handlers(void) {
    for (int i = 0; i < NFAULT; i++) sigaction(fault_signals[i], &saved_actions[i], 0);
    sigaltstack(&saved_stack, 0);
}

/* --- the program's life ----------------------------------------------------------------- */

struct main_args { int argc; char **argv; int status; };

static void run_inits_and_main(void *p) {
    struct main_args *a = p;
    for (init_fn *f = __init_array_start; f && f < __init_array_end; f++)
        (*f)(a->argc, a->argv, environ);
    a->status = main(a->argc, a->argv, environ);
}

static long fini_left;

/* Counters move before each call, so re-entering after exit() resumes, never repeats. */
static void run_exit_handlers(void *unused) {
    (void)unused;
    while (nhandlers > 0) {
        nhandlers--;
        handlers[nhandlers].fn(handlers[nhandlers].arg);
    }
    while (fini_left > 0) {
        fini_left--;
        __fini_array_start[fini_left]();
    }
}

/* Entry point crossjit calls with run_as_main. Returns (kind << 8) | (status & 0xff). */
int __crossjit_start(int argc, char **argv) {
    struct main_args a = {argc, argv, 0};
    outcome_kind = OUT_RETURNED;
    outcome_value = 0;
    nhandlers = 0;
    install_fault_handlers();
    fini_left = __fini_array_start ? __fini_array_end - __fini_array_start : 0;
    if (!guarded(run_inits_and_main, &a)) outcome_value = a.status;
    /* exit() inside a handler sets the status and the remaining handlers still run. */
    while (outcome_kind != OUT_SIGNALLED && guarded(run_exit_handlers, 0)) {
    }
    fflush(0);
    restore_fault_handlers();
    return (outcome_kind << 8) | (outcome_value & 0xff);
}

/* Fault details after a signal: argc selects the 32-bit half (run_as_main returns int). */
int __crossjit_fault(int argc, char **argv) {
    (void)argv;
    switch (argc) {
    case 1: return (int)(unsigned)(fault_addr & 0xffffffffu);
    case 2: return (int)(unsigned)(fault_addr >> 32);
    case 3: return (int)(unsigned)(fault_pc & 0xffffffffu);
    case 4: return (int)(unsigned)(fault_pc >> 32);
    default: return 0;
    }
}

/* --- live reload's safe point (include/crossjit.h) --------------------------------------
 * A program that calls crossjit_reload_point() gets its reloads applied there: the host
 * maps each reload's slot writes as a table and publishes it with one pointer store; the
 * tables form a chain (newest first) so none is lost when the program is slow to call. */
struct crossjit_reload {
    struct crossjit_reload *prev;   /* the reload before, maybe applied already */
    unsigned long applied;          /* set here once its writes are done */
    unsigned long count;
    unsigned long writes[][2];      /* (slot address, new body) */
};

struct crossjit_reload *volatile __crossjit_reload_pending;
static int reload_lock;  /* threads calling the safe point at once apply in turn */

static void apply_reload(struct crossjit_reload *t) {
    if (!t || __atomic_load_n(&t->applied, __ATOMIC_ACQUIRE)) return;
    apply_reload(t->prev);  /* oldest first: the newest value of a slot wins */
    for (unsigned long i = 0; i < t->count; i++)
        __atomic_store_n((unsigned long *)t->writes[i][0], t->writes[i][1], __ATOMIC_RELEASE);
    __atomic_store_n(&t->applied, 1UL, __ATOMIC_RELEASE);
}

void crossjit_reload_point(void) {
    if (!__atomic_load_n(&__crossjit_reload_pending, __ATOMIC_ACQUIRE)) return;
    while (__atomic_exchange_n(&reload_lock, 1, __ATOMIC_ACQUIRE)) {
    }
    struct crossjit_reload *t =
        __atomic_exchange_n(&__crossjit_reload_pending, (struct crossjit_reload *)0,
                            __ATOMIC_ACQ_REL);
    apply_reload(t);
    __atomic_store_n(&reload_lock, 0, __ATOMIC_RELEASE);
}
