#include "frame.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t get64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static void put64(uint8_t *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

int frame_decode_header(const uint8_t raw[FRAME_HEADER_SIZE], struct frame_header *h)
{
    uint64_t size = get64(raw);
    if (size < FRAME_HEADER_SIZE)
        return FRAME_TOO_SMALL;
    if (size > FRAME_MAX_SIZE)
        return FRAME_TOO_LARGE;
    h->size = size - FRAME_HEADER_SIZE;
    h->op = raw[8];
    h->seq = get64(raw + 16);
    h->tag = get64(raw + 24);
    if (h->op > OP_CALL)
        return FRAME_BAD_OPCODE;
    return FRAME_OK;
}

void frame_encode_header(uint8_t raw[FRAME_HEADER_SIZE], uint8_t op, uint64_t seq,
                         uint64_t tag, size_t payload_size)
{
    put64(raw, (uint64_t)payload_size + FRAME_HEADER_SIZE);
    put64(raw + 8, op);
    put64(raw + 16, seq);
    put64(raw + 24, tag);
}

const char *frame_status_str(int status)
{
    switch (status) {
    case FRAME_OK: return "ok";
    case FRAME_EOF: return "end of file";
    case FRAME_TRUNCATED: return "Unexpected end-of-file";
    case FRAME_TOO_SMALL: return "Message size too small";
    case FRAME_TOO_LARGE: return "Message size too large";
    case FRAME_BAD_OPCODE: return "Unexpected opcode";
    case FRAME_IO: return "read error";
    case FRAME_NOMEM: return "out of memory reading message";
    }
    return "unknown frame error";
}

int fd_read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r == 0)
            return got == 0 ? 1 : -1;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -2;
        }
        got += (size_t)r;
    }
    return 0;
}

/* Writes must not kill us with SIGPIPE when the controller went away, and the
 * executor must not change the JIT'd program's SIGPIPE disposition: use
 * MSG_NOSIGNAL on sockets; on pipes block SIGPIPE in this thread and consume
 * a pending one. */
static ssize_t write_nosigpipe(int fd, const void *buf, size_t n)
{
    ssize_t r = send(fd, buf, n, MSG_NOSIGNAL);
    if (r >= 0 || errno != ENOTSOCK)
        return r;
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    r = write(fd, buf, n);
    int saved = errno;
    if (r < 0 && errno == EPIPE) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = saved;
    return r;
}

int fd_write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t r = write_nosigpipe(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

int frame_read(int fd, struct frame_header *h, uint8_t **payload)
{
    uint8_t raw[FRAME_HEADER_SIZE];
    *payload = NULL;
    int r = fd_read_full(fd, raw, sizeof raw);
    if (r == 1)
        return FRAME_EOF;
    if (r == -1)
        return FRAME_TRUNCATED;
    if (r < 0)
        return FRAME_IO;
    int st = frame_decode_header(raw, h);
    if (st != FRAME_OK)
        return st;
    if (h->size == 0)
        return FRAME_OK;
    uint8_t *buf = malloc((size_t)h->size);
    if (!buf)
        return FRAME_NOMEM;
    r = fd_read_full(fd, buf, (size_t)h->size);
    if (r != 0) {
        free(buf);
        return r == -2 ? FRAME_IO : FRAME_TRUNCATED;
    }
    *payload = buf;
    return FRAME_OK;
}
