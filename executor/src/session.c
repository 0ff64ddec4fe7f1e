#include "session.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "memmgr.h"
#include "sps.h"
#include "wrappers.h"

#ifndef CROSSJIT_TRIPLE
#if defined(__x86_64__)
#define TRIPLE_ARCH "x86_64-pc-linux-"
#elif defined(__aarch64__)
#define TRIPLE_ARCH "aarch64-unknown-linux-"
#else
#error "unsupported architecture: define CROSSJIT_TRIPLE"
#endif
#ifdef __GLIBC__
#define CROSSJIT_TRIPLE TRIPLE_ARCH "gnu"
#else
#define CROSSJIT_TRIPLE TRIPLE_ARCH "musl"
#endif
#endif

/* JIT'd code gets glibc's usual 8 MiB thread stack even on musl (128 KiB). */
#define JOB_STACK_SIZE (8u << 20)

int session_verbose;

struct pending {
    uint64_t seq;
    int done;
    uint8_t *data;
    size_t size;
    struct pending *next;
};

static struct {
    int in_fd, out_fd;
    int inline_only; /* fuzzing */
    pthread_mutex_t send_lock;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int closed;
    int broken; /* write side failed */
    uint64_t next_seq;
    struct pending *pending;
    int active_jit;   /* threads running JIT code (run_as_*, JIT tags) */
    int active_other; /* threads running finalize/deallocate */
} S = {
    .in_fd = -1,
    .out_fd = -1,
    .send_lock = PTHREAD_MUTEX_INITIALIZER,
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

static void vlog(const char *fmt, unsigned long long a, unsigned long long b)
{
    if (session_verbose) {
        fprintf(stderr, "crossjit-executor: ");
        fprintf(stderr, fmt, a, b);
        fputc('\n', stderr);
    }
}

static int send_frame(uint8_t op, uint64_t seq, uint64_t tag, const void *payload, size_t n)
{
    uint8_t *buf = malloc(FRAME_HEADER_SIZE + n);
    if (!buf)
        return -1;
    frame_encode_header(buf, op, seq, tag, n);
    if (n)
        memcpy(buf + FRAME_HEADER_SIZE, payload, n);
    pthread_mutex_lock(&S.send_lock);
    int r = S.broken ? -1 : fd_write_full(S.out_fd, buf, FRAME_HEADER_SIZE + n);
    if (r)
        S.broken = 1;
    pthread_mutex_unlock(&S.send_lock);
    free(buf);
    return r;
}

/* OOB errors have no wire form in LLVM 14-23: an empty Result. */
static void send_result(uint64_t seq, cwfr *r)
{
    if (wfr_is_oob(r)) {
        if (session_verbose)
            fprintf(stderr, "crossjit-executor: call %llu: %s\n", (unsigned long long)seq,
                    r->Data.ValuePtr);
        send_frame(OP_RESULT, seq, 0, NULL, 0);
    } else {
        send_frame(OP_RESULT, seq, 0, wfr_bytes(r), r->Size);
    }
    wfr_free(r);
}

static int send_setup(void)
{
    sps_out out;
    sps_out_init(&out);
    sps_put_str(&out, CROSSJIT_TRIPLE);
    long ps = sysconf(_SC_PAGESIZE);
    sps_put_u64(&out, ps > 0 ? (uint64_t)ps : 4096);
    wrappers_put_bootstrap(&out, (uint64_t)(uintptr_t)&S, (uint64_t)(uintptr_t)crossjit_dispatch);
    int r = out.oom ? -1 : send_frame(OP_SETUP, 0, 0, out.p, out.n);
    sps_out_free(&out);
    return r;
}

/* ---- executor -> controller calls ------------------------------------- */

cwfr crossjit_dispatch(void *ctx, const void *tag, const char *data, size_t size)
{
    if (ctx != (void *)&S)
        return wfr_oob("bad dispatch context");
    struct pending p = {0};
    pthread_mutex_lock(&S.lock);
    if (S.closed) {
        pthread_mutex_unlock(&S.lock);
        return wfr_oob("disconnecting");
    }
    p.seq = S.next_seq++;
    p.next = S.pending;
    S.pending = &p;
    pthread_mutex_unlock(&S.lock);

    int sent = send_frame(OP_CALL, p.seq, (uint64_t)(uintptr_t)tag, data, size);

    pthread_mutex_lock(&S.lock);
    while (!p.done && !S.closed && sent == 0)
        pthread_cond_wait(&S.cond, &S.lock);
    for (struct pending **pp = &S.pending; *pp; pp = &(*pp)->next)
        if (*pp == &p) {
            *pp = p.next;
            break;
        }
    pthread_mutex_unlock(&S.lock);
    if (!p.done)
        return wfr_oob("disconnecting");
    return wfr_take(p.data, p.size);
}

static void deliver_result(uint64_t seq, uint8_t *payload, size_t n)
{
    pthread_mutex_lock(&S.lock);
    struct pending *p = S.pending;
    while (p && (p->seq != seq || p->done))
        p = p->next;
    if (p) {
        p->done = 1;
        p->data = payload;
        p->size = n;
        pthread_cond_broadcast(&S.cond);
    }
    pthread_mutex_unlock(&S.lock);
    if (!p) {
        /* LLVM exits here ("No call for sequence number"); a stray Result
         * cannot hurt us, so drop it and keep the session. */
        vlog("ignoring Result for unknown sequence number %llu (%llu)", (unsigned long long)seq, 0);
        free(payload);
    }
}

/* ---- incoming calls ---------------------------------------------------- */

struct job {
    wrapper_fn fn;
    uint64_t seq;
    uint8_t *payload;
    size_t size;
    int jit;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    cwfr r = j->fn((const char *)j->payload, j->size);
    send_result(j->seq, &r);
    free(j->payload);
    pthread_mutex_lock(&S.lock);
    if (j->jit)
        S.active_jit--;
    else
        S.active_other--;
    pthread_cond_broadcast(&S.cond);
    pthread_mutex_unlock(&S.lock);
    free(j);
    return NULL;
}

static void handle_call(const struct frame_header *h, uint8_t *payload)
{
    wrapper_fn fn = wrappers_find(h->tag);
    int flags = WRAPPER_THREAD | WRAPPER_RUNS_CODE;
    if (fn) {
        flags = wrappers_flags(h->tag);
    } else if (memmgr_is_exec(h->tag) && !S.inline_only) {
        fn = (wrapper_fn)(uintptr_t)h->tag;
    } else {
        /* LLVM jumps to any tag; we only call our wrappers or JIT'd code. */
        vlog("call %llu: refusing unknown tag 0x%llx", (unsigned long long)h->seq,
             (unsigned long long)h->tag);
        free(payload);
        send_frame(OP_RESULT, h->seq, 0, NULL, 0);
        return;
    }
    if ((flags & WRAPPER_THREAD) && !S.inline_only) {
        /* Off the reader thread, so the reader keeps serving Results for
         * dispatch_fn calls and other requests while JIT code runs. */
        struct job *j = malloc(sizeof *j);
        pthread_attr_t attr;
        pthread_t t;
        int spawned = 0;
        if (j && pthread_attr_init(&attr) == 0) {
            *j = (struct job){fn, h->seq, payload, (size_t)h->size, (flags & WRAPPER_RUNS_CODE) != 0};
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            pthread_attr_setstacksize(&attr, JOB_STACK_SIZE);
            pthread_mutex_lock(&S.lock);
            if (j->jit)
                S.active_jit++;
            else
                S.active_other++;
            spawned = pthread_create(&t, &attr, job_main, j) == 0;
            if (!spawned) {
                if (j->jit)
                    S.active_jit--;
                else
                    S.active_other--;
            }
            pthread_mutex_unlock(&S.lock);
            pthread_attr_destroy(&attr);
        }
        if (!spawned) {
            free(j);
            free(payload);
            send_frame(OP_RESULT, h->seq, 0, NULL, 0);
        }
        return;
    }
    cwfr r = fn((const char *)payload, (size_t)h->size);
    free(payload);
    send_result(h->seq, &r);
}

int session_handle_frame(const struct frame_header *h, uint8_t *payload)
{
    switch (h->op) {
    case OP_CALL:
        handle_call(h, payload);
        return 0;
    case OP_RESULT:
        deliver_result(h->seq, payload, (size_t)h->size);
        return 0;
    case OP_HANGUP:
        free(payload);
        return 1;
    default:
        free(payload);
        if (!S.inline_only) /* the fuzzer sends this constantly */
            fprintf(stderr, "crossjit-executor: Unexpected Setup opcode\n");
        return -1;
    }
}

void session_init_for_fuzzing(int out_fd)
{
    S.out_fd = out_fd;
    S.inline_only = 1;
}

static void shut_down(void)
{
    pthread_mutex_lock(&S.lock);
    S.closed = 1;
    pthread_cond_broadcast(&S.cond); /* dispatch_fn waiters get "disconnecting" */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    while (S.active_other > 0 &&
           pthread_cond_timedwait(&S.cond, &S.lock, &deadline) != ETIMEDOUT)
        ;
    int code_running = S.active_jit > 0 || S.active_other > 0;
    pthread_mutex_unlock(&S.lock);
    /* Unmapping code another thread still executes would crash it; the
     * process is about to exit, which releases everything anyway. */
    if (!code_running)
        memmgr_release_all();
}

int session_serve(int in_fd, int out_fd)
{
    S.in_fd = in_fd;
    S.out_fd = out_fd;
    if (send_setup() != 0) {
        fprintf(stderr, "crossjit-executor: could not send Setup: %s\n", strerror(errno));
        return 1;
    }
    int status = 0;
    for (;;) {
        struct frame_header h;
        uint8_t *payload;
        int st = frame_read(in_fd, &h, &payload);
        if (st == FRAME_EOF)
            break;
        if (st != FRAME_OK) {
            fprintf(stderr, "crossjit-executor: %s\n", frame_status_str(st));
            status = 1;
            break;
        }
        int r = session_handle_frame(&h, payload);
        if (r > 0)
            break;
        if (r < 0) {
            status = 1;
            break;
        }
    }
    shut_down();
    return status;
}
