#include "memmgr.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "jitdebug.h"
#include "sps.h"
#include "wrappers.h"

int memmgr_fuzz_mode;

struct seg_rec {
    uint64_t addr, size;
    uint8_t prot;
};

struct dealloc_rec {
    uint64_t fn;
    uint8_t *args;
    size_t len;
};

struct alloc {
    uint64_t base, size;
    int finalized;
    int busy; /* finalize or deallocate in progress (runs actions unlocked) */
    struct seg_rec *segs; /* in the order protections were applied */
    size_t nsegs;
    struct dealloc_rec *deallocs;
    size_t ndeallocs;
    struct alloc *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct alloc *allocs;

static char *msgf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static uint64_t page_size(void)
{
    static uint64_t ps;
    if (!ps) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (uint64_t)v : 4096;
    }
    return ps;
}

static int sys_prot(uint8_t p)
{
#if defined(__aarch64__)
    /* The instruction-cache flush after finalize (DC CVAU) may fault on an execute-only
     * page on some cores: code stays readable, as LLVM's own memory manager does on ARM. */
    if (p & PROT_X_)
        p |= PROT_R_;
#endif
    return ((p & PROT_R_) ? PROT_READ : 0) | ((p & PROT_W_) ? PROT_WRITE : 0) |
           ((p & PROT_X_) ? PROT_EXEC : 0);
}

static struct alloc *find_containing(uint64_t addr, uint64_t len)
{
    for (struct alloc *a = allocs; a; a = a->next)
        if (addr >= a->base && len <= a->size && addr - a->base <= a->size - len)
            return a;
    return NULL;
}

/* Effective protection of the page holding addr: the last applied segment
 * touching that page wins (mprotect works on whole pages); pages no segment
 * touches stay read/write as reserved. */
static uint8_t page_prot(const struct alloc *a, uint64_t addr)
{
    if (!a->finalized)
        return PROT_R_ | PROT_W_;
    uint64_t ps = page_size();
    uint64_t pg = addr & ~(ps - 1);
    uint8_t prot = PROT_R_ | PROT_W_;
    for (size_t i = 0; i < a->nsegs; i++) {
        const struct seg_rec *s = &a->segs[i];
        if (!s->size)
            continue;
        uint64_t lo = s->addr & ~(ps - 1);
        uint64_t hi = s->addr + s->size; /* exclusive; validated not to overflow */
        if (pg >= lo && pg < hi)
            prot = s->prot;
    }
    return prot;
}

static int range_has_prot(const struct alloc *a, uint64_t addr, uint64_t len, uint8_t want)
{
    uint64_t ps = page_size();
    if (len == 0)
        return 1;
    for (uint64_t pg = addr & ~(ps - 1); pg < addr + len; pg += ps)
        if ((page_prot(a, pg) & want) != want)
            return 0;
    return 1;
}

void memmgr_write_lock(void) { pthread_mutex_lock(&lock); }
void memmgr_write_unlock(void) { pthread_mutex_unlock(&lock); }

int memmgr_range_writable_locked(uint64_t addr, uint64_t len)
{
    struct alloc *a = find_containing(addr, len);
    return a && !a->busy && range_has_prot(a, addr, len, PROT_W_);
}

int memmgr_range_writable(uint64_t addr, uint64_t len)
{
    pthread_mutex_lock(&lock);
    int ok = memmgr_range_writable_locked(addr, len);
    pthread_mutex_unlock(&lock);
    return ok;
}

int memmgr_range_mapped(uint64_t addr, uint64_t len)
{
    pthread_mutex_lock(&lock);
    int ok = find_containing(addr, len) != NULL;
    pthread_mutex_unlock(&lock);
    return ok;
}

int memmgr_is_exec(uint64_t addr)
{
    if (memmgr_fuzz_mode)
        return 0;
    pthread_mutex_lock(&lock);
    struct alloc *a = find_containing(addr, 1);
    int ok = a && a->finalized && (page_prot(a, addr) & (PROT_X_ | PROT_R_)) == (PROT_X_ | PROT_R_);
    pthread_mutex_unlock(&lock);
    return ok;
}

char *memmgr_reserve(uint64_t size, uint64_t *base)
{
    uint64_t ps = page_size();
    if (size == 0)
        return msgf("Cannot reserve an empty allocation");
    if (size > UINT64_MAX - ps || (memmgr_fuzz_mode && size > (1u << 20)))
        return msgf("%s", strerror(ENOMEM));
    uint64_t rounded = (size + ps - 1) & ~(ps - 1);
    if (rounded > SIZE_MAX)
        return msgf("%s", strerror(ENOMEM));
    struct alloc *a = calloc(1, sizeof *a);
    if (!a)
        return msgf("%s", strerror(ENOMEM));
    void *m = mmap(NULL, (size_t)rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        free(a);
        return msgf("%s", strerror(e));
    }
    a->base = (uint64_t)(uintptr_t)m;
    a->size = rounded;
    pthread_mutex_lock(&lock);
    a->next = allocs;
    allocs = a;
    pthread_mutex_unlock(&lock);
    *base = a->base;
    return NULL;
}

static void free_alloc(struct alloc *a)
{
    jitdebug_forget_range(a->base, a->size);
    munmap((void *)(uintptr_t)a->base, (size_t)a->size);
    for (size_t i = 0; i < a->ndeallocs; i++)
        free(a->deallocs[i].args);
    free(a->deallocs);
    free(a->segs);
    free(a);
}

static void unlink_alloc(struct alloc *a)
{
    for (struct alloc **pp = &allocs; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            return;
        }
}

/* Run dealloc actions in reverse, ignoring failures (LLVM joins them into
 * the deallocate error; we report the first). */
static char *run_deallocs(struct alloc *a)
{
    char *first = NULL;
    for (size_t i = a->ndeallocs; i-- > 0;) {
        char *e = run_wrapper_call_error(a->deallocs[i].fn, a->deallocs[i].args, a->deallocs[i].len);
        if (e && !first)
            first = e;
        else
            free(e);
    }
    return first;
}

char *memmgr_finalize(const struct fin_segment *segs, size_t nsegs,
                      const struct fin_action *acts, size_t nacts)
{
    if (nsegs == 0)
        return nacts ? msgf("Finalization actions attached to empty allocation") : NULL;
    uint64_t base = UINT64_MAX;
    for (size_t i = 0; i < nsegs; i++)
        if (segs[i].addr < base)
            base = segs[i].addr;

    pthread_mutex_lock(&lock);
    struct alloc *a = NULL;
    for (struct alloc *p = allocs; p; p = p->next)
        if (p->base == base)
            a = p;
    if (!a || a->busy) {
        pthread_mutex_unlock(&lock);
        return msgf("Attempt to finalize unrecognized allocation 0x%llx", (unsigned long long)base);
    }
    if (a->finalized) {
        pthread_mutex_unlock(&lock);
        return msgf("Allocation 0x%llx is already finalized", (unsigned long long)base);
    }
    /* Validate everything before touching memory (LLVM checks as it copies). */
    uint64_t end = a->base + a->size;
    for (size_t i = 0; i < nsegs; i++) {
        const struct fin_segment *s = &segs[i];
        if (s->size < s->content_len) {
            pthread_mutex_unlock(&lock);
            return msgf("Segment 0x%llx content size (0x%llx bytes) exceeds segment size (0x%llx bytes)",
                        (unsigned long long)s->addr, (unsigned long long)s->content_len,
                        (unsigned long long)s->size);
        }
        if (s->addr > end || s->size > end - s->addr) {
            pthread_mutex_unlock(&lock);
            return msgf("Segment 0x%llx -- 0x%llx crosses boundary of allocation 0x%llx -- 0x%llx",
                        (unsigned long long)s->addr, (unsigned long long)(s->addr + s->size),
                        (unsigned long long)a->base, (unsigned long long)end);
        }
    }
    struct seg_rec *recs = calloc(nsegs, sizeof *recs);
    struct dealloc_rec *drecs = nacts ? calloc(nacts, sizeof *drecs) : NULL;
    if (!recs || (nacts && !drecs)) {
        pthread_mutex_unlock(&lock);
        free(recs);
        free(drecs);
        return msgf("%s", strerror(ENOMEM));
    }
    a->busy = 1;
    pthread_mutex_unlock(&lock);

    /* Copy all contents first, then protect, so segments sharing a page
     * cannot fault on a page an earlier segment made read-only. */
    for (size_t i = 0; i < nsegs; i++) {
        char *mem = (char *)(uintptr_t)segs[i].addr;
        if (segs[i].content_len)
            memcpy(mem, segs[i].content, segs[i].content_len);
        memset(mem + segs[i].content_len, 0, (size_t)(segs[i].size - segs[i].content_len));
    }
    char *err = NULL;
    uint64_t ps = page_size();
    for (size_t i = 0; i < nsegs && !err; i++) {
        recs[i].addr = segs[i].addr;
        recs[i].size = segs[i].size;
        recs[i].prot = segs[i].prot & 7;
        if (!segs[i].size)
            continue;
        uint64_t lo = segs[i].addr & ~(ps - 1);
        uint64_t hi = (segs[i].addr + segs[i].size + ps - 1) & ~(ps - 1);
        if (mprotect((void *)(uintptr_t)lo, (size_t)(hi - lo), sys_prot(segs[i].prot)) != 0)
            err = msgf("%s", strerror(errno));
        else if (segs[i].prot & PROT_X_)
            __builtin___clear_cache((char *)(uintptr_t)segs[i].addr,
                                    (char *)(uintptr_t)(segs[i].addr + segs[i].size));
    }

    pthread_mutex_lock(&lock);
    a->segs = recs;
    a->nsegs = nsegs;
    a->finalized = 1;
    pthread_mutex_unlock(&lock);

    size_t done = 0, nd = 0;
    for (; done < nacts && !err; done++) {
        err = run_wrapper_call_error(acts[done].finalize.fn, acts[done].finalize.args,
                                     acts[done].finalize.args_len);
        if (err)
            break;
        if (acts[done].dealloc.fn) {
            struct dealloc_rec *d = &drecs[nd];
            d->fn = acts[done].dealloc.fn;
            d->len = acts[done].dealloc.args_len;
            d->args = d->len ? malloc(d->len) : NULL;
            if (d->len && !d->args) {
                err = msgf("%s", strerror(ENOMEM));
                break;
            }
            if (d->len)
                memcpy(d->args, acts[done].dealloc.args, d->len);
            nd++;
        }
    }
    pthread_mutex_lock(&lock);
    a->deallocs = drecs;
    a->ndeallocs = nd;
    if (!err) {
        a->busy = 0;
        pthread_mutex_unlock(&lock);
        return NULL;
    }
    pthread_mutex_unlock(&lock);
    /* As LLVM: undo completed actions, then drop the whole reservation. */
    free(run_deallocs(a));
    pthread_mutex_lock(&lock);
    unlink_alloc(a);
    pthread_mutex_unlock(&lock);
    free_alloc(a);
    return err;
}

char *memmgr_deallocate(const uint64_t *bases, size_t n)
{
    char *first = NULL;
    for (size_t i = 0; i < n; i++) {
        pthread_mutex_lock(&lock);
        struct alloc *a = NULL;
        for (struct alloc *p = allocs; p; p = p->next)
            if (p->base == bases[i] && !p->busy)
                a = p;
        if (a)
            a->busy = 1;
        pthread_mutex_unlock(&lock);
        if (!a) {
            if (!first)
                first = msgf("No allocation entry found for 0x%llx", (unsigned long long)bases[i]);
            continue;
        }
        char *e = run_deallocs(a);
        pthread_mutex_lock(&lock);
        unlink_alloc(a);
        pthread_mutex_unlock(&lock);
        free_alloc(a);
        if (e && !first)
            first = e;
        else
            free(e);
    }
    return first;
}

void memmgr_release_all(void)
{
    for (;;) {
        pthread_mutex_lock(&lock);
        struct alloc *a = allocs;
        while (a && a->busy)
            a = a->next;
        if (a)
            a->busy = 1;
        pthread_mutex_unlock(&lock);
        if (!a)
            return;
        free(run_deallocs(a));
        pthread_mutex_lock(&lock);
        unlink_alloc(a);
        pthread_mutex_unlock(&lock);
        free_alloc(a);
    }
}

char *run_wrapper_call_error(uint64_t fn, const uint8_t *args, size_t len)
{
    wrapper_fn f = wrappers_find(fn);
    if (!f) {
        if (!memmgr_is_exec(fn))
            return msgf("Refusing to call 0x%llx: not an executor wrapper or finalized JIT code",
                        (unsigned long long)fn);
        f = (wrapper_fn)(uintptr_t)fn;
    }
    cwfr r = f((const char *)args, len);
    char *err = NULL;
    if (wfr_is_oob(&r)) {
        err = msgf("%s", r.Data.ValuePtr);
    } else {
        sps_in in;
        sps_in_init(&in, wfr_bytes(&r), r.Size);
        int has_err = 0;
        const uint8_t *m;
        size_t mlen;
        if (sps_bool(&in, &has_err))
            err = msgf("Could not deserialize result from serialized wrapper function call");
        else if (has_err) {
            if (sps_bytes(&in, &m, &mlen))
                err = msgf("Could not deserialize result from serialized wrapper function call");
            else
                err = msgf("%.*s", (int)(mlen > 4096 ? 4096 : mlen), (const char *)m);
        }
    }
    wfr_free(&r);
    return err;
}
