/* crossjit's resident runtime: loaded once per executor process and never released.
 *
 * Why it exists: a program may end the executor process itself, through the C library's
 * exit() called from anywhere (errx() in libc, a library's fatal-error path, another
 * thread), which crt.c cannot interpose. The program's atexit handlers and stdio must
 * still be dealt with as natively, so crt.c asks to be called from libc's exit, through
 * a slot here that it arms and disarms; the program's own memory is released when it
 * ends, this image's is not.
 *
 * glibc: the registration is removed again (__cxa_finalize of our "DSO") when the
 * program disarms, because LLVM's executors release *all* JIT memory, this image's too,
 * before they exit normally: a handler left behind would be called in unmapped memory.
 * musl cannot remove a handler (its __cxa_finalize does nothing), so there it stays
 * registered; crossjit-executor, the musl executor, leaves with _exit() and never runs
 * it after its memory is gone.
 *
 * It is a separate link of its own, so its references to exit/__cxa_atexit reach the
 * C library's, not crt.c's interposed ones. Freestanding, like crt.c.
 */

extern int __cxa_atexit(void (*)(void *), void *, void *) __attribute__((weak));
extern void __cxa_finalize(void *) __attribute__((weak));
extern const char *gnu_get_libc_version(void) __attribute__((weak)); /* only glibc has it */
extern int atexit(void (*)(void)) __attribute__((weak)); /* static musl: no __cxa_atexit */
extern void exit(int) __attribute__((noreturn));

static void (*volatile live_program)(void);
static int registered;
static char our_dso; /* the "DSO" of our registration, for __cxa_finalize */

static void at_libc_exit(void) {
    void (*fn)(void) = live_program;
    live_program = 0;
    if (fn) fn();
}

static void at_libc_cxa_exit(void *unused) {
    (void)unused;
    at_libc_exit();
}

/* fn: the running program's exit hook, or 0 when it has ended. Returns 0 when libc will
 * call it from exit(), -1 when this C library offers no way to register. */
int __crossjit_resident_arm(void (*fn)(void)) {
    live_program = fn;
    if (fn && !registered) {
        if (__cxa_atexit)
            registered = __cxa_atexit(at_libc_cxa_exit, 0, &our_dso) == 0;
        else if (atexit)
            registered = atexit(at_libc_exit) == 0;
    } else if (!fn && registered && gnu_get_libc_version && __cxa_finalize && __cxa_atexit) {
        __cxa_finalize(&our_dso); /* calls at_libc_cxa_exit once, disarmed: a no-op */
        registered = 0;
    }
    return registered || !fn ? 0 : -1;
}

/* The C library's exit(), for crt.c, whose own exit() interposes the program's. */
__attribute__((noreturn)) void __crossjit_libc_exit(int status) { exit(status); }
