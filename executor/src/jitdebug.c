#include "jitdebug.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifndef CROSSJIT_STATIC
#include <dlfcn.h>
#endif

#include "memmgr.h"
#include "sps.h"

/* ---- GDB JIT interface ------------------------------------------------ */

struct jit_descriptor __jit_debug_descriptor = {1, 0, NULL, NULL};

/* Debuggers put a breakpoint here; it must stay a real, non-inlined call. */
__attribute__((noinline)) void __jit_debug_register_code(void)
{
    __asm__ volatile("" ::: "memory");
}

static pthread_mutex_t gdb_lock = PTHREAD_MUTEX_INITIALIZER;

static int decode_range(const char *data, size_t size, uint64_t *start, uint64_t *end, int *notify)
{
    sps_in in;
    sps_in_init(&in, data, size);
    sps_u64(&in, start);
    sps_u64(&in, end);
    *notify = 1;
    if (!in.err && in.n >= 1) /* LLVM 17+ adds "bool AutoRegisterCode" */
        sps_bool(&in, notify);
    return in.err || *end < *start ? -1 : 0;
}

static cwfr gdb_register(const char *data, size_t size)
{
    uint64_t start, end;
    int notify;
    if (decode_range(data, size, &start, &end, &notify))
        return wfr_oob("Could not deserialize arguments for wrapper function call");
    if (start == end)
        return wfr_error_ok();
    if (!memmgr_range_mapped(start, end - start))
        return wfr_error_msg("GDB JIT registration: range is not executor JIT memory");
    struct jit_code_entry *e = calloc(1, sizeof *e);
    if (!e)
        return wfr_error_msg("GDB JIT registration: out of memory");
    e->symfile_addr = (const char *)(uintptr_t)start;
    e->symfile_size = end - start;
    pthread_mutex_lock(&gdb_lock);
    e->next_entry = __jit_debug_descriptor.first_entry;
    if (e->next_entry)
        e->next_entry->prev_entry = e;
    __jit_debug_descriptor.first_entry = e;
    __jit_debug_descriptor.relevant_entry = e;
    __jit_debug_descriptor.action_flag = 1;
    if (notify)
        __jit_debug_register_code();
    pthread_mutex_unlock(&gdb_lock);
    return wfr_error_ok();
}

cwfr llvm_orc_registerJITLoaderGDBWrapper(const char *data, size_t size)
{
    return gdb_register(data, size);
}

cwfr llvm_orc_registerJITLoaderGDBAllocAction(const char *data, size_t size)
{
    return gdb_register(data, size);
}

static void gdb_forget(uint64_t base, uint64_t size)
{
    pthread_mutex_lock(&gdb_lock);
    struct jit_code_entry *e = __jit_debug_descriptor.first_entry;
    while (e) {
        struct jit_code_entry *next = e->next_entry;
        uint64_t a = (uint64_t)(uintptr_t)e->symfile_addr;
        if (a >= base && a - base < size) {
            if (e->prev_entry)
                e->prev_entry->next_entry = e->next_entry;
            else
                __jit_debug_descriptor.first_entry = e->next_entry;
            if (e->next_entry)
                e->next_entry->prev_entry = e->prev_entry;
            __jit_debug_descriptor.relevant_entry = e;
            __jit_debug_descriptor.action_flag = 2;
            __jit_debug_register_code();
            free(e);
        }
        e = next;
    }
    __jit_debug_descriptor.relevant_entry = NULL;
    __jit_debug_descriptor.action_flag = 0;
    pthread_mutex_unlock(&gdb_lock);
}

/* ---- eh-frame registration ------------------------------------------- */

typedef void (*frame_fn)(const void *);

#ifdef CROSSJIT_STATIC
extern void __register_frame(const void *) __attribute__((weak));
extern void __deregister_frame(const void *) __attribute__((weak));
#endif

static pthread_mutex_t eh_lock = PTHREAD_MUTEX_INITIALIZER;
static frame_fn reg_fn, dereg_fn;
static int eh_resolved;

#define MAX_FRAMES 1024
static uint64_t frames[MAX_FRAMES];
static size_t nframes;

/* libgcc's unwinder (the one libstdc++ throws through) provides these; musl
 * has none, so there registration is a successful no-op (C needs none). */
static void eh_resolve(void)
{
    if (eh_resolved)
        return;
    eh_resolved = 1;
#ifdef CROSSJIT_STATIC
    reg_fn = __register_frame;
    dereg_fn = __deregister_frame;
#else
    void *r = dlsym(RTLD_DEFAULT, "__register_frame");
    void *d = dlsym(RTLD_DEFAULT, "__deregister_frame");
    if (!r || !d) {
        void *h = dlopen("libgcc_s.so.1", RTLD_LAZY | RTLD_GLOBAL);
        if (h) {
            r = dlsym(h, "__register_frame");
            d = dlsym(h, "__deregister_frame");
        }
    }
    if (r && d) {
        memcpy(&reg_fn, &r, sizeof r);
        memcpy(&dereg_fn, &d, sizeof d);
    }
#endif
}

static cwfr eh_frame(const char *data, size_t size, int reg)
{
    uint64_t start, end;
    int unused;
    if (decode_range(data, size, &start, &end, &unused))
        return wfr_oob("Could not deserialize arguments for wrapper function call");
    if (start == 0 || end - start < 4)
        return wfr_error_ok(); /* nothing to register, as LLVM */
    if (!memmgr_range_mapped(start, end - start))
        return wfr_error_msg("eh-frame range is not executor JIT memory");
    pthread_mutex_lock(&eh_lock);
    eh_resolve();
    size_t i = 0;
    while (i < nframes && frames[i] != start)
        i++;
    cwfr r = wfr_error_ok();
    if (reg) {
        if (i < nframes) {
            r = wfr_error_msg("eh-frame section already registered");
        } else if (nframes == MAX_FRAMES) {
            r = wfr_error_msg("too many eh-frame sections registered");
        } else {
            frames[nframes++] = start;
            if (reg_fn)
                reg_fn((const void *)(uintptr_t)start);
        }
    } else {
        /* libgcc aborts on deregistering an unknown frame: check first. */
        if (i == nframes) {
            r = wfr_error_msg("eh-frame section was not registered");
        } else {
            frames[i] = frames[--nframes];
            if (dereg_fn)
                dereg_fn((const void *)(uintptr_t)start);
        }
    }
    pthread_mutex_unlock(&eh_lock);
    return r;
}

cwfr llvm_orc_registerEHFrameSectionWrapper(const char *data, size_t size)
{
    return eh_frame(data, size, 1);
}

cwfr llvm_orc_deregisterEHFrameSectionWrapper(const char *data, size_t size)
{
    return eh_frame(data, size, 0);
}

void jitdebug_forget_range(uint64_t base, uint64_t size)
{
    gdb_forget(base, size);
    pthread_mutex_lock(&eh_lock);
    for (size_t i = 0; i < nframes;) {
        if (frames[i] >= base && frames[i] - base < size) {
            if (dereg_fn)
                dereg_fn((const void *)(uintptr_t)frames[i]);
            frames[i] = frames[--nframes];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&eh_lock);
}
