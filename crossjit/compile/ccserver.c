/* A resident clang: LD_PRELOADed into a clang process, it turns that process into a fork
 * server (compile/resident.py builds it with the host's C compiler and starts it).
 *
 * Why: most of a small compile is clang's start-up, not the compile. The dynamic loader
 * relocates libLLVM and libclang-cpp (~24 ms on this machine) and their constructors run
 * before clang's main; a fork of a process that has done all that costs well under a
 * millisecond, and the child runs clang's real main with the request's argv, in its own
 * copy of a freshly started process. Each compile is still its own process: a crash or a
 * fatal error ends the child, never the server.
 *
 * Protocol on the socket in $CROSSJIT_CC_SERVER_FD, one request at a time:
 *   request:  u32 length, then NUL-terminated strings: cwd, stderr path, argv[0..]
 *   reply:    i32 wait status of the child (as waitpid gives it)
 * The child's stdin is /dev/null, its stdout and stderr go to the stderr path.
 * End of the socket (the client closed it): the server exits.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

typedef int (*main_fn)(int, char **, char **);
typedef int (*start_fn)(main_fn, int, char **, void (*)(void), void (*)(void),
                        void (*)(void), void *);

static main_fn real_main;
static int server_fd = -1;

static int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void child(char *req, uint32_t len)
{
    /* the strings: cwd, stderr path, argv... */
    char *end = req + len, *cwd = req, *err = cwd + strlen(cwd) + 1;
    char *arg = err + strlen(err) + 1;
    int argc = 0;
    for (char *p = arg; p < end; p += strlen(p) + 1)
        argc++;
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    if (!argv)
        _exit(127);
    for (int i = 0; i < argc; i++, arg += strlen(arg) + 1)
        argv[i] = arg;
    close(server_fd);
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* the server killed at a deadline: this one too */
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (in < 0 || out < 0 || chdir(cwd) != 0)
        _exit(127);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    signal(SIGPIPE, SIG_DFL);
    exit(real_main(argc, argv, environ));
}

static int serve(int argc, char **argv, char **envp)
{
    (void)argc, (void)argv, (void)envp;
    /* What clang may start itself (it should not: cc1 runs in-process) starts clean. */
    unsetenv("LD_PRELOAD");
    unsetenv("CROSSJIT_CC_SERVER_FD");
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the crossjit that started us */
    for (;;) {
        uint32_t len;
        if (read_all(server_fd, &len, sizeof len) != 0 || len == 0 || len > (64u << 20))
            return 0;
        char *req = malloc(len + 1);
        if (!req || read_all(server_fd, req, len) != 0)
            return 0;
        req[len] = 0;
        pid_t pid = fork();
        if (pid == 0)
            child(req, len);
        int32_t status = 127 << 8;
        if (pid > 0)
            while (waitpid(pid, &status, 0) < 0)
                ;
        free(req);
        if (write_all(server_fd, &status, sizeof status) != 0)
            return 0;
    }
}

/* clang's _start calls this through the PLT: libc starts as usual (the executable's own
 * constructors run once, here), then the server takes main's place. */
int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*rtld_fini)(void), void *stack_end)
{
    start_fn real = (start_fn)dlsym(RTLD_NEXT, "__libc_start_main");
    const char *fd = getenv("CROSSJIT_CC_SERVER_FD");
    if (!real)
        _exit(127);
    if (!fd)
        return real(main, argc, argv, init, fini, rtld_fini, stack_end);
    real_main = main;
    server_fd = atoi(fd);
    return real(serve, argc, argv, init, fini, rtld_fini, stack_end);
}
