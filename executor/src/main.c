/* crossjit-executor: command line and connection setup.
 *   filedescs=IN,OUT   use two inherited fds (may be equal)
 *   listen=HOST:PORT   accept one TCP connection on exactly HOST:PORT
 *   unix=PATH          accept one connection on a unix socket at PATH
 *   connect=PATH       connect to a unix socket at PATH (an ssh -R forward)
 *   relay=PATH         no executor: connect to PATH (an executor's unix=) and copy
 *                      stdin to it and it to stdout, for a remote Docker engine's
 *                      `docker exec -i` stream (docs/containers.md) */
#include <errno.h>
#include <poll.h>
#include <sys/prctl.h>
#include <time.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "session.h"

#define VERSION "0.1.0 (LLVM 16 SimpleRemoteEPC dialect)"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: crossjit-executor (filedescs=IN,OUT | listen=HOST:PORT | unix=PATH |\n"
            "                          connect=PATH | relay=PATH) [quiet]\n"
            "Runs whatever code the connected controller sends: bind to loopback or a\n"
            "private channel only. Serves one connection, then exits.\n"
            "quiet: no \"listening on\" line on stderr.\n"
            "debuggable: any process of this user may ptrace it (Yama ptrace_scope 1),\n"
            "for a gdbserver started next to it (remote Docker engines).\n");
}

static int parse_fd(const char *s, const char *end, int *fd)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (errno || e == s || e != end || v < 0 || v > 1 << 20)
        return -1;
    *fd = (int)v;
    return 0;
}

static int quiet; /* set by the `quiet` argument */

/* The one connection a listener takes; the listening socket is closed either way. */
static int accept_one(int lfd)
{
    int fd;
    while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (fd < 0)
        fprintf(stderr, "crossjit-executor: accept: %s\n", strerror(errno));
    close(lfd);
    return fd;
}

/* The address of unix socket PATH; -1 (said on stderr) if PATH is empty or too long. */
static int unix_address(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path || !*path) {
        fprintf(stderr, "crossjit-executor: bad unix socket path\n");
        return -1;
    }
    strcpy(sa->sun_path, path);
    return 0;
}

static int listen_tcp(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1]) {
        fprintf(stderr, "crossjit-executor: listen= needs HOST:PORT\n");
        return -1;
    }
    char host[256];
    size_t hl = (size_t)(colon - spec);
    if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') { /* [::1]:PORT */
        spec++;
        hl -= 2;
    }
    if (hl >= sizeof host) {
        fprintf(stderr, "crossjit-executor: host name too long\n");
        return -1;
    }
    memcpy(host, spec, hl);
    host[hl] = 0;
    struct addrinfo hints = {0}, *res, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc) {
        fprintf(stderr, "crossjit-executor: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return -1;
    }
    int lfd = -1, err = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        lfd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (lfd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* Bind exactly the address asked for (LLVM's binds 0.0.0.0). */
        if (bind(lfd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(lfd, 1) == 0)
            break;
        err = errno;
        close(lfd);
        lfd = -1;
    }
    freeaddrinfo(res);
    if (lfd < 0) {
        fprintf(stderr, "crossjit-executor: cannot listen on %s:%s: %s\n", host, colon + 1, strerror(err));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h[NI_MAXHOST], p[NI_MAXSERV];
    if (getsockname(lfd, (struct sockaddr *)&ss, &sl) == 0 &&
        getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        if (!quiet)
            fprintf(stderr, "crossjit-executor: listening on %s%s%s:%s\n", ss.ss_family == AF_INET6 ? "[" : "", h,
                ss.ss_family == AF_INET6 ? "]" : "", p);
    int fd = accept_one(lfd);
    if (fd >= 0) {
        int one = 1; /* small request/response messages: no Nagle delay */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int listen_unix(const char *path)
{
    struct sockaddr_un sa;
    if (unix_address(path, &sa))
        return -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "crossjit-executor: %s exists and is not a socket\n", path);
            return -1;
        }
        unlink(path); /* stale socket of an earlier run */
    }
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1) != 0) {
        fprintf(stderr, "crossjit-executor: cannot listen on %s: %s\n", path, strerror(errno));
        if (lfd >= 0)
            close(lfd);
        return -1;
    }
    if (!quiet)
        fprintf(stderr, "crossjit-executor: listening on unix:%s\n", path);
    int fd = accept_one(lfd);
    unlink(path);
    return fd;
}

/* Connect to a unix socket someone else listens on: over SSH that is sshd's end of an
 * `ssh -R REMOTE.sock:LOCAL.sock` forward, so the executor listens on nothing at all.
 * The listener may appear a moment after we start: retry for up to 10 s. */
static int connect_unix(const char *path)
{
    struct sockaddr_un sa;
    if (unix_address(path, &sa))
        return -1;
    for (int attempt = 0;; attempt++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fprintf(stderr, "crossjit-executor: socket: %s\n", strerror(errno));
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return fd;
        int err = errno;
        close(fd);
        if ((err != ENOENT && err != ECONNREFUSED && err != EINTR) || attempt >= 200) {
            fprintf(stderr, "crossjit-executor: cannot connect to %s: %s\n", path, strerror(err));
            return -1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Write all of buf; -1 on error. */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* relay=PATH: the protocol channel of a session on a remote Docker engine, where no host
 * path can be shared with the container. crossjit's `docker exec -i` stream is this
 * process's stdin/stdout; the session's executor listens on PATH (unix=) in the
 * container's private tmpfs. Either side's EOF ends the relay (and closes the other), so
 * a dropped stream hangs the executor up, which then exits. */
static int relay(const char *path)
{
    int fd = connect_unix(path);
    if (fd < 0)
        return 1;
    /* Who listens (its pid in this pid namespace): what gdbserver attaches to; the line
     * also tells crossjit that the channel is complete. */
    struct ucred cred;
    socklen_t cl = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0)
        cred.pid = 0;
    fprintf(stderr, "crossjit-executor: relay connected to pid %ld\n", (long)cred.pid);
    fflush(stderr);
    struct pollfd p[2] = {{.fd = 0, .events = POLLIN}, {.fd = fd, .events = POLLIN}};
    char buf[65536];
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        for (int k = 0; k < 2; k++) {
            if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(p[k].fd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return 0; /* EOF: exit, which closes both */
            if (write_all(k == 0 ? fd : 1, buf, (size_t)n))
                return 0;
        }
    }
}

int main(int argc, char **argv)
{
    int in = -1, out = -1, i = 1;
    /* `quiet` anywhere after the mode: no "listening on" line, whose stderr is the
     * JIT'd program's stderr when crossjit starts one executor per session. */
    for (int j = 2; j < argc; j++) {
        if (!strcmp(argv[j], "quiet"))
            quiet = 1;
        /* Yama's ptrace_scope 1 lets only ancestors attach; the gdbserver crossjit debug
         * starts in a remote engine's container is a sibling. No Yama: EINVAL, ignored. */
        if (!strcmp(argv[j], "debuggable"))
            prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    }
    const char *v = getenv("CROSSJIT_EXECUTOR_VERBOSE");
    session_verbose = v && *v && strcmp(v, "0") != 0;
    if (i < argc && !strcmp(argv[i], "debug")) /* LLVM's optional first arg */
        i++;
    if (i >= argc) {
        usage(stderr);
        return 1;
    }
    const char *a = argv[i];
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(a, "--version")) {
        printf("crossjit-executor %s\n", VERSION);
        return 0;
    }
    if (!strncmp(a, "filedescs=", 10)) {
        const char *s = a + 10, *comma = strchr(s, ',');
        if (!comma || parse_fd(s, comma, &in) || parse_fd(comma + 1, comma + 1 + strlen(comma + 1), &out)) {
            fprintf(stderr, "crossjit-executor: filedescs= needs IN,OUT\n");
            return 1;
        }
    } else if (!strncmp(a, "listen=", 7)) {
        in = out = listen_tcp(a + 7);
    } else if (!strncmp(a, "unix=", 5)) {
        in = out = listen_unix(a + 5);
    } else if (!strncmp(a, "connect=", 8)) {
        in = out = connect_unix(a + 8);
    } else if (!strncmp(a, "relay=", 6)) {
        return relay(a + 6);
    } else {
        usage(stderr);
        return 1;
    }
    if (in < 0 || out < 0)
        return 1;
    /* Remaining arguments are ignored, as by LLVM's executor. */
    int status = session_serve(in, out);
    close(in);
    if (out != in)
        close(out);
    fflush(stdout);
    fflush(stderr);
    /* _exit: atexit handlers JIT'd code registered may point into memory
     * that was just released. */
    _exit(status);
}
