#include "wrappers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dylib.h"
#include "jitdebug.h"
#include "memmgr.h"

#define BAD_ARGS "Could not deserialize arguments for wrapper function call"

/* Instance objects: only their addresses matter (first argument of the
 * manager wrappers, consumed and ignored). */
static const char memmgr_instance, dylib_instance, shm_instance;

static cwfr take_out(sps_out *o)
{
    if (o->oom) {
        sps_out_free(o);
        return wfr_oob("out of memory");
    }
    return wfr_take(o->p, o->n);
}

static cwfr err_result(char *msg, int expected)
{
    cwfr r = expected ? wfr_expected_fail(msg ? msg : "out of memory")
                      : wfr_error_msg(msg ? msg : "out of memory");
    free(msg);
    return r;
}

/* ---- memory manager --------------------------------------------------- */

static cwfr mm_reserve(const char *d, size_t n)
{
    sps_in in;
    uint64_t inst, size, base;
    sps_in_init(&in, d, n);
    sps_u64(&in, &inst);
    sps_u64(&in, &size);
    if (in.err)
        return wfr_oob(BAD_ARGS);
    char *e = memmgr_reserve(size, &base);
    return e ? err_result(e, 1) : wfr_expected_u64(base);
}

static int read_call(sps_in *in, struct wf_call *c)
{
    sps_u64(in, &c->fn);
    return sps_bytes(in, &c->args, &c->args_len);
}

static cwfr mm_finalize(const char *d, size_t n)
{
    sps_in in;
    uint64_t inst, nsegs, nacts;
    sps_in_init(&in, d, n);
    sps_u64(&in, &inst);
    if (sps_count(&in, &nsegs, 25))
        return wfr_oob(BAD_ARGS);
    struct fin_segment *segs = calloc(nsegs ? nsegs : 1, sizeof *segs);
    if (!segs)
        return wfr_oob("out of memory");
    for (uint64_t i = 0; i < nsegs; i++) {
        sps_u8(&in, &segs[i].prot);
        sps_u64(&in, &segs[i].addr);
        sps_u64(&in, &segs[i].size);
        sps_bytes(&in, &segs[i].content, &segs[i].content_len);
    }
    struct fin_action *acts = NULL;
    if (!sps_count(&in, &nacts, 32)) {
        acts = calloc(nacts ? nacts : 1, sizeof *acts);
        for (uint64_t i = 0; acts && i < nacts; i++) {
            read_call(&in, &acts[i].finalize);
            read_call(&in, &acts[i].dealloc);
        }
    }
    cwfr r;
    if (in.err)
        r = wfr_oob(BAD_ARGS);
    else if (!acts)
        r = wfr_oob("out of memory");
    else {
        char *e = memmgr_finalize(segs, (size_t)nsegs, acts, (size_t)nacts);
        r = e ? err_result(e, 0) : wfr_error_ok();
    }
    free(segs);
    free(acts);
    return r;
}

static cwfr mm_deallocate(const char *d, size_t n)
{
    sps_in in;
    uint64_t inst, count;
    sps_in_init(&in, d, n);
    sps_u64(&in, &inst);
    if (sps_count(&in, &count, 8))
        return wfr_oob(BAD_ARGS);
    uint64_t *bases = calloc(count ? count : 1, sizeof *bases);
    if (!bases)
        return wfr_oob("out of memory");
    for (uint64_t i = 0; i < count; i++)
        sps_u64(&in, &bases[i]);
    char *e = memmgr_deallocate(bases, (size_t)count);
    free(bases);
    return e ? err_result(e, 0) : wfr_error_ok();
}

/* ---- memory writes ------------------------------------------------------ */

#define WRITE_REFUSED "write outside writable executor JIT memory refused"

/* Validate every target first so a bad element writes nothing; a void
 * wrapper can only report failure out of band (empty Result on the wire).
 * The memory lock is held from the checks through the copies. */
static cwfr mem_write_uints(const char *d, size_t n, unsigned width)
{
    sps_in in;
    uint64_t count;
    sps_in_init(&in, d, n);
    if (sps_count(&in, &count, 8 + width))
        return wfr_oob(BAD_ARGS);
    const char *refused = NULL;
    memmgr_write_lock();
    sps_in scan = in;
    for (uint64_t i = 0; i < count && !refused; i++) {
        uint64_t addr;
        sps_u64(&scan, &addr);
        if (scan.err || scan.n < width) {
            refused = BAD_ARGS;
            break;
        }
        scan.p += width;
        scan.n -= width;
        if (!memmgr_range_writable_locked(addr, width))
            refused = WRITE_REFUSED;
    }
    for (uint64_t i = 0; i < count && !refused; i++) {
        uint64_t addr;
        sps_u64(&in, &addr);
        if (width == 8 && addr % 8 == 0) {
            /* One atomic store per aligned 64-bit value: a live reload switches the
             * pointer slots that running threads jump through; none may see half. */
            uint64_t v;
            memcpy(&v, in.p, 8); /* SPS is LE, so is the target */
            __atomic_store_n((uint64_t *)(uintptr_t)addr, v, __ATOMIC_RELEASE);
        } else {
            memcpy((void *)(uintptr_t)addr, in.p, width);
        }
        in.p += width;
        in.n -= width;
    }
    memmgr_write_unlock();
    return refused ? wfr_oob(refused) : wfr_empty();
}

static cwfr mw_u8(const char *d, size_t n) { return mem_write_uints(d, n, 1); }
static cwfr mw_u16(const char *d, size_t n) { return mem_write_uints(d, n, 2); }
static cwfr mw_u32(const char *d, size_t n) { return mem_write_uints(d, n, 4); }
static cwfr mw_u64(const char *d, size_t n) { return mem_write_uints(d, n, 8); }

static cwfr mw_buffers(const char *d, size_t n)
{
    sps_in in;
    uint64_t count;
    sps_in_init(&in, d, n);
    if (sps_count(&in, &count, 16))
        return wfr_oob(BAD_ARGS);
    const char *refused = NULL;
    memmgr_write_lock();
    sps_in scan = in;
    for (uint64_t i = 0; i < count && !refused; i++) {
        uint64_t addr;
        const uint8_t *b;
        size_t len;
        sps_u64(&scan, &addr);
        if (sps_bytes(&scan, &b, &len))
            refused = BAD_ARGS;
        else if (!memmgr_range_writable_locked(addr, len))
            refused = WRITE_REFUSED;
    }
    for (uint64_t i = 0; i < count && !refused; i++) {
        uint64_t addr;
        const uint8_t *b;
        size_t len;
        sps_u64(&in, &addr);
        sps_bytes(&in, &b, &len);
        if (len)
            memcpy((void *)(uintptr_t)addr, b, len);
    }
    memmgr_write_unlock();
    return refused ? wfr_oob(refused) : wfr_empty();
}

/* ---- dylib manager --------------------------------------------------- */

static cwfr dl_open(const char *d, size_t n)
{
    sps_in in;
    uint64_t inst, mode, handle;
    const uint8_t *p;
    size_t len;
    sps_in_init(&in, d, n);
    sps_u64(&in, &inst);
    sps_bytes(&in, &p, &len);
    sps_u64(&in, &mode);
    if (in.err)
        return wfr_oob(BAD_ARGS);
    char *path = sps_strdup(p, len);
    if (!path)
        return wfr_expected_fail("open: invalid path");
    char *e = dylib_open(path, mode, &handle);
    free(path);
    return e ? err_result(e, 1) : wfr_expected_u64(handle);
}

static cwfr dl_lookup(const char *d, size_t n)
{
    sps_in in;
    uint64_t inst, handle, count;
    sps_in_init(&in, d, n);
    sps_u64(&in, &inst);
    sps_u64(&in, &handle);
    if (sps_count(&in, &count, 9))
        return wfr_oob(BAD_ARGS);
    if (!dylib_known(handle)) {
        char m[64];
        snprintf(m, sizeof m, "No dylib for handle 0x%llx", (unsigned long long)handle);
        return wfr_expected_fail(m);
    }
    sps_out out;
    sps_out_init(&out);
    sps_put_u8(&out, 1);
    sps_put_u64(&out, count);
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *p;
        size_t len;
        int required;
        sps_bytes(&in, &p, &len);
        if (sps_bool(&in, &required)) {
            sps_out_free(&out);
            return wfr_oob(BAD_ARGS);
        }
        uint64_t addr = 0;
        char *name = len ? sps_strdup(p, len) : NULL;
        if (name)
            addr = dylib_lookup(handle, name);
        if (!addr && required) {
            char m[300];
            if (len == 0)
                snprintf(m, sizeof m, "Required address for empty symbol \"\"");
            else
                snprintf(m, sizeof m, "Missing definition for %.*s", (int)(len > 256 ? 256 : len), (const char *)p);
            free(name);
            sps_out_free(&out);
            return wfr_expected_fail(m);
        }
        free(name);
        sps_put_u64(&out, addr);
    }
    return take_out(&out);
}

/* ---- running code ------------------------------------------------------- */

static void flush_stdio(void)
{
    /* Output appears when the call returns, not at executor exit. Only the
     * standard streams: fflush(NULL) could block on a FILE another JIT thread
     * holds (e.g. stdin in fgets). */
    fflush(stdout);
    fflush(stderr);
}

static cwfr run_as_main(const char *d, size_t n)
{
    sps_in in;
    uint64_t fn, argc;
    sps_in_init(&in, d, n);
    sps_u64(&in, &fn);
    if (sps_count(&in, &argc, 8) || argc > 1000000)
        return wfr_oob(BAD_ARGS);
    if (!memmgr_is_exec(fn))
        return wfr_oob("run_as_main: address is not finalized executable JIT memory");
    char **argv = calloc(argc + 1, sizeof *argv);
    if (!argv)
        return wfr_oob("out of memory");
    cwfr r = wfr_empty();
    int ok = 1;
    for (uint64_t i = 0; i < argc && ok; i++) {
        const uint8_t *p;
        size_t len;
        if (sps_bytes(&in, &p, &len))
            ok = 0;
        else if (!(argv[i] = malloc(len + 1)))
            ok = 0;
        else {
            if (len)
                memcpy(argv[i], p, len); /* embedded NULs: C just sees a shorter string */
            argv[i][len] = 0;
        }
    }
    if (!ok) {
        r = wfr_oob(BAD_ARGS);
    } else {
        int (*main_fn)(int, char **) = (int (*)(int, char **))(uintptr_t)fn;
        int64_t rc = main_fn((int)argc, argv);
        flush_stdio();
        uint8_t b[8];
        for (int i = 0; i < 8; i++)
            b[i] = (uint8_t)((uint64_t)rc >> (8 * i));
        r = wfr_copy(b, 8);
    }
    for (uint64_t i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
    return r;
}

static cwfr int32_result(int32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)((uint32_t)v >> (8 * i));
    return wfr_copy(b, 4);
}

static cwfr run_as_void(const char *d, size_t n)
{
    sps_in in;
    uint64_t fn;
    sps_in_init(&in, d, n);
    if (sps_u64(&in, &fn))
        return wfr_oob(BAD_ARGS);
    if (!memmgr_is_exec(fn))
        return wfr_oob("run_as_void_function: address is not finalized executable JIT memory");
    int32_t rc = ((int32_t(*)(void))(uintptr_t)fn)();
    flush_stdio();
    return int32_result(rc);
}

static cwfr run_as_int(const char *d, size_t n)
{
    sps_in in;
    uint64_t fn;
    uint32_t arg;
    sps_in_init(&in, d, n);
    sps_u64(&in, &fn);
    if (sps_u32(&in, &arg))
        return wfr_oob(BAD_ARGS);
    if (!memmgr_is_exec(fn))
        return wfr_oob("run_as_int_function: address is not finalized executable JIT memory");
    int32_t rc = ((int32_t(*)(int32_t))(uintptr_t)fn)((int32_t)arg);
    flush_stdio();
    return int32_result(rc);
}

/* ---- shared-memory mapper: published (LLVM 16's controller resolves the
 * names) but not implemented; every call fails cleanly in band. ---------- */

#define NO_SHM "ExecutorSharedMemoryMapperService is not supported by crossjit-executor"
/* Four distinct functions: every bootstrap name gets its own address, as in LLVM. */
static cwfr shm_reserve(const char *d, size_t n)
{
    (void)d;
    return n < 16 ? wfr_oob(BAD_ARGS) : wfr_expected_fail(NO_SHM);
}
static cwfr shm_initialize(const char *d, size_t n)
{
    (void)d;
    return n < 24 ? wfr_oob(BAD_ARGS) : wfr_expected_fail(NO_SHM);
}
static cwfr shm_deinitialize(const char *d, size_t n)
{
    (void)d;
    return n < 16 ? wfr_oob(BAD_ARGS) : wfr_error_msg(NO_SHM " (deinitialize)");
}
static cwfr shm_release(const char *d, size_t n)
{
    (void)d;
    return n < 16 ? wfr_oob(BAD_ARGS) : wfr_error_msg(NO_SHM " (release)");
}

/* ---- tables ------------------------------------------------------------- */

#define P "__llvm_orc_"

struct entry {
    const char *name;
    wrapper_fn fn;
    int flags;
};

static const struct entry bootstrap[] = {
    {P "SimpleExecutorMemoryManager_reserve_wrapper", mm_reserve, 0},
    {P "SimpleExecutorMemoryManager_finalize_wrapper", mm_finalize, WRAPPER_THREAD},
    {P "SimpleExecutorMemoryManager_deallocate_wrapper", mm_deallocate, WRAPPER_THREAD},
    {P "SimpleExecutorDylibManager_open_wrapper", dl_open, 0},
    {P "SimpleExecutorDylibManager_lookup_wrapper", dl_lookup, 0},
    {P "bootstrap_mem_write_uint8s_wrapper", mw_u8, 0},
    {P "bootstrap_mem_write_uint16s_wrapper", mw_u16, 0},
    {P "bootstrap_mem_write_uint32s_wrapper", mw_u32, 0},
    {P "bootstrap_mem_write_uint64s_wrapper", mw_u64, 0},
    {P "bootstrap_mem_write_buffers_wrapper", mw_buffers, 0},
    {P "bootstrap_run_as_main_wrapper", run_as_main, WRAPPER_THREAD | WRAPPER_RUNS_CODE},
    {P "bootstrap_run_as_void_function_wrapper", run_as_void, WRAPPER_THREAD | WRAPPER_RUNS_CODE},
    {P "bootstrap_run_as_int_function_wrapper", run_as_int, WRAPPER_THREAD | WRAPPER_RUNS_CODE},
    {P "bootstrap_register_ehframe_section_wrapper", llvm_orc_registerEHFrameSectionWrapper, 0},
    {P "bootstrap_deregister_ehframe_section_wrapper", llvm_orc_deregisterEHFrameSectionWrapper, 0},
    {P "ExecutorSharedMemoryMapperService_Reserve", shm_reserve, 0},
    {P "ExecutorSharedMemoryMapperService_Initialize", shm_initialize, 0},
    {P "ExecutorSharedMemoryMapperService_Deinitialize", shm_deinitialize, 0},
    {P "ExecutorSharedMemoryMapperService_Release", shm_release, 0},
    /* Not in Setup: found by dylib lookup (LLVM's exported names). */
    {"llvm_orc_registerEHFrameSectionWrapper", llvm_orc_registerEHFrameSectionWrapper, 0},
    {"llvm_orc_deregisterEHFrameSectionWrapper", llvm_orc_deregisterEHFrameSectionWrapper, 0},
    {"llvm_orc_registerEHFrameSectionAllocAction", llvm_orc_registerEHFrameSectionWrapper, 0},
    {"llvm_orc_deregisterEHFrameSectionAllocAction", llvm_orc_deregisterEHFrameSectionWrapper, 0},
    {"llvm_orc_registerJITLoaderGDBWrapper", llvm_orc_registerJITLoaderGDBWrapper, 0},
    {"llvm_orc_registerJITLoaderGDBAllocAction", llvm_orc_registerJITLoaderGDBAllocAction, 0},
};
#define NBOOT (sizeof bootstrap / sizeof bootstrap[0])
#define NSETUP_WRAPPERS 19

static uint64_t addr_of(wrapper_fn f) { return (uint64_t)(uintptr_t)f; }

wrapper_fn wrappers_find(uint64_t addr)
{
    for (size_t i = 0; i < NBOOT; i++)
        if (addr == addr_of(bootstrap[i].fn))
            return bootstrap[i].fn;
    return NULL;
}

int wrappers_flags(uint64_t addr)
{
    for (size_t i = 0; i < NBOOT; i++)
        if (addr == addr_of(bootstrap[i].fn))
            return bootstrap[i].flags;
    return WRAPPER_THREAD | WRAPPER_RUNS_CODE; /* JIT code: anything can happen */
}

uint64_t wrappers_export_lookup(const char *name)
{
    for (size_t i = NSETUP_WRAPPERS; i < NBOOT; i++)
        if (!strcmp(name, bootstrap[i].name))
            return addr_of(bootstrap[i].fn);
    if (!strcmp(name, "__jit_debug_descriptor"))
        return (uint64_t)(uintptr_t)&__jit_debug_descriptor;
    if (!strcmp(name, "__jit_debug_register_code"))
        return (uint64_t)(uintptr_t)&__jit_debug_register_code;
    return 0;
}

static void put_sym(sps_out *out, const char *name, uint64_t addr)
{
    sps_put_str(out, name);
    sps_put_u64(out, addr);
}

void wrappers_put_bootstrap(sps_out *out, uint64_t dispatch_ctx, uint64_t dispatch_fn)
{
    sps_put_u64(out, NSETUP_WRAPPERS + 5);
    put_sym(out, P "SimpleRemoteEPC_dispatch_ctx", dispatch_ctx);
    put_sym(out, P "SimpleRemoteEPC_dispatch_fn", dispatch_fn);
    put_sym(out, P "SimpleExecutorMemoryManager_Instance", (uint64_t)(uintptr_t)&memmgr_instance);
    put_sym(out, P "SimpleExecutorDylibManager_Instance", (uint64_t)(uintptr_t)&dylib_instance);
    put_sym(out, P "ExecutorSharedMemoryMapperService_Instance", (uint64_t)(uintptr_t)&shm_instance);
    for (size_t i = 0; i < NSETUP_WRAPPERS; i++)
        put_sym(out, bootstrap[i].name, addr_of(bootstrap[i].fn));
}

size_t wrappers_count(void) { return NBOOT; }

wrapper_fn wrappers_at(size_t i, uint64_t *addr)
{
    if (i >= NBOOT)
        return NULL;
    *addr = addr_of(bootstrap[i].fn);
    return bootstrap[i].fn;
}
