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
 *   - stdio is flushed so output without a trailing newline appears (and discarded
 *     after a fatal signal, as a natively killed process loses it);
 *   - the C library's own exit(), called from anywhere (errx() in libc, a library,
 *     another thread), ends the executor process as it would end the native one: the
 *     program's handlers run first (through resident.c, which libc calls), and crossjit
 *     reports the executor's exit status as the program's;
 *   - the program's name (errx/err/warn print it) is argv[0], not the executor's.
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
extern int raise(int);

/* Weak: absent from some executors (a static one resolves a fixed table), or when the
 * resident runtime was not loaded; each use checks. */
extern int __crossjit_resident_arm(void (*)(void)) __attribute__((weak));
extern void __crossjit_libc_exit(int) __attribute__((weak, noreturn));
extern void __fpurge(void *) __attribute__((weak));
extern void *stdout __attribute__((weak));
extern char *__progname __attribute__((weak));      /* glibc and musl: errx() prints it */
extern char *__progname_full __attribute__((weak)); /* = program_invocation_name */
extern usize pthread_self(void) __attribute__((weak));

/* Defined by crossjit's JIT linker, like a static linker does. */
extern init_fn __init_array_start[] __attribute__((weak, visibility("hidden")));
extern init_fn __init_array_end[] __attribute__((weak, visibility("hidden")));
extern fini_fn __fini_array_start[] __attribute__((weak, visibility("hidden")));
extern fini_fn __fini_array_end[] __attribute__((weak, visibility("hidden")));

/* The JIT'd program is one "DSO" for __cxa_atexit's purposes. */
void *__dso_handle __attribute__((visibility("hidden"))) = &__dso_handle;

enum { OUT_RETURNED = 0, OUT_EXITED = 1, OUT_SIGNALLED = 2 };

#if defined(__aarch64__)
/* clang has no __builtin_setjmp/__builtin_longjmp on AArch64 ("not supported for the
 * current target"), and llvmlite has no AArch64 assembler for a pair of our own: use
 * libc's _setjmp/_longjmp (glibc and musl; they leave the signal mask alone, which
 * SA_NODEFER keeps right). Their jmp_buf is 312 bytes in both; 512 leaves room. The
 * builtins' names are kept so the code below is the same on every architecture. */
#define JB_WORDS 64
extern int _setjmp(void **jb) __attribute__((returns_twice));
extern void _longjmp(void **jb, int v) __attribute__((noreturn));
#define __builtin_setjmp(jb) _setjmp(jb)
#define __builtin_longjmp(jb, v) _longjmp(jb, v)
#else
#define JB_WORDS 5 /* what __builtin_setjmp needs */
#endif

static volatile int outcome_kind;
static volatile int outcome_value;
static volatile usize fault_addr;
static volatile usize fault_pc;
static void **volatile current_jb;
static usize main_thread; /* the thread running __crossjit_start */

static int on_main_thread(void) { return !pthread_self || pthread_self() == main_thread; }

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
    if (!current_jb || !on_main_thread()) {
        /* Another thread, or after the program: end the process as libc's exit() would
         * (which runs the program's handlers through the resident hook). */
        if (__crossjit_libc_exit) __crossjit_libc_exit(status);
        fflush(0);
        _exit(status);
    }
    outcome_kind = OUT_EXITED;
    outcome_value = status;
    __builtin_longjmp((void **)current_jb, 1);
}

/* Runs fn(arg); returns 1 if it left through exit() or a fault instead of returning. */
__attribute__((noinline)) static int guarded(void (*fn)(void *), void *arg) {
    void *jb[JB_WORDS];
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

/* Set by runtime/tls.c when linked: runs the C++ thread_local destructors of this thread
 * (the one that ran main), which exit() runs before atexit handlers. */
void (*__crossjit_thread_exit)(void) __attribute__((visibility("hidden")));

/* Counters move before each call, so re-entering after exit() resumes, never repeats. */
static void run_exit_handlers(void *unused) {
    (void)unused;
    if (__crossjit_thread_exit) __crossjit_thread_exit();
    while (nhandlers > 0) {
        nhandlers--;
        handlers[nhandlers].fn(handlers[nhandlers].arg);
    }
    while (fini_left > 0) {
        fini_left--;
        __fini_array_start[fini_left]();
    }
}

/* --- the program's name, for errx() & co ---------------------------------------------- */

static char *saved_progname, *saved_progname_full;

static void set_progname(char *argv0) {
    if (!argv0) return;
    char *base = argv0;
    for (char *p = argv0; *p; p++)
        if (*p == '/') base = p + 1;
    if (&__progname) { saved_progname = __progname; __progname = base; }
    if (&__progname_full) { saved_progname_full = __progname_full; __progname_full = argv0; }
}

static void restore_progname(void) {
    if (&__progname && saved_progname) __progname = saved_progname;
    if (&__progname_full && saved_progname_full) __progname_full = saved_progname_full;
}

/* After a fatal signal the native process would lose what stdout still buffers; so must
 * the executor, which outlives the program and would flush it at its own exit. */
static void discard_stdout(void) {
    if (__fpurge && &stdout && stdout) __fpurge(stdout);
}

/* Called from the C library's exit() (through resident.c) while the program runs:
 * exit() from a library or libc itself (errx), not crt.c's. The process ends when this
 * returns, with libc's status; first the program's handlers run, as they would natively. */
static void on_libc_exit(void) {
    outcome_kind = OUT_RETURNED;
    while (outcome_kind != OUT_SIGNALLED && guarded(run_exit_handlers, 0)) {
    }
    restore_fault_handlers();
    restore_progname();
    if (outcome_kind == OUT_SIGNALLED) { /* a handler crashed: die of it, as natively */
        struct k_sigaction dfl = {0};
        discard_stdout();
        sigaction(outcome_value, &dfl, 0);
        raise(outcome_value);
    }
    fflush(0);
    if (outcome_kind == OUT_EXITED) _exit(outcome_value); /* exit() again in a handler */
}

/* Entry point crossjit calls with run_as_main. Returns (kind << 8) | (status & 0xff). */
int __crossjit_start(int argc, char **argv) {
    struct main_args a = {argc, argv, 0};
    outcome_kind = OUT_RETURNED;
    outcome_value = 0;
    nhandlers = 0;
    main_thread = pthread_self ? pthread_self() : 0;
    set_progname(argc > 0 ? argv[0] : 0);
    install_fault_handlers();
    if (__crossjit_resident_arm) __crossjit_resident_arm(on_libc_exit);
    fini_left = __fini_array_start ? __fini_array_end - __fini_array_start : 0;
    if (!guarded(run_inits_and_main, &a)) outcome_value = a.status;
    /* exit() inside a handler sets the status and the remaining handlers still run. */
    while (outcome_kind != OUT_SIGNALLED && guarded(run_exit_handlers, 0)) {
    }
    if (__crossjit_resident_arm) __crossjit_resident_arm(0);
    if (outcome_kind == OUT_SIGNALLED)
        discard_stdout();
    else
        fflush(0);
    restore_fault_handlers();
    restore_progname();
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
