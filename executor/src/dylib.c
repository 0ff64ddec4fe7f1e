#include "dylib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wrappers.h"

int dylib_fuzz_mode;

#define MAX_HANDLES 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t handles[MAX_HANDLES];
static size_t nhandles;
static uint64_t process_handle;

#ifdef CROSSJIT_STATIC
/* No dynamic loader: the process handle is this object and resolves the
 * executor's own exports plus the libc table in static_syms.c. */
static const char static_process_marker = 0;
#else
/* LLVM's executor has libstdc++, libm and libgcc_s loaded (it is C++), so
 * controllers may resolve e.g. std::cout through the process handle. We stay
 * small and load them only when a process-handle lookup misses. */
static const char *const process_extras[] = {
#ifdef __GLIBC__
    "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1",
#else
    "libstdc++.so.6", "libgcc_s.so.1",
#endif
};
static void *extra_handles[sizeof process_extras / sizeof process_extras[0]];
static int extras_tried;

/* In LLVM's executor the C++ standard streams are constructed because the
 * executor itself is C++. JIT'd code run without its static initializers
 * (llvm-jitlink 16 runs none) relies on that, so construct them once when we
 * load libstdc++: std::ios_base::Init is reference counted. */
static void init_cxx_streams(void *libstdcxx)
{
    static _Alignas(16) char ios_init_obj[16];
    void *ctor = dlsym(libstdcxx, "_ZNSt8ios_base4InitC1Ev");
    if (ctor) {
        void (*fn)(void *);
        memcpy(&fn, &ctor, sizeof fn);
        fn(ios_init_obj);
    }
}
#endif

static int remember(uint64_t h)
{
    for (size_t i = 0; i < nhandles; i++)
        if (handles[i] == h)
            return 0;
    if (nhandles == MAX_HANDLES)
        return -1;
    handles[nhandles++] = h;
    return 0;
}

static char *dup_msg(const char *s)
{
    size_t n = strlen(s) + 1;
    char *m = malloc(n);
    if (m)
        memcpy(m, s, n);
    return m;
}

char *dylib_open(const char *path, uint64_t mode, uint64_t *handle)
{
    if (mode != 0)
        return dup_msg("open: non-zero mode bits not yet supported");
    uint64_t h;
    if (path[0] == 0) {
#ifdef CROSSJIT_STATIC
        h = (uint64_t)(uintptr_t)&static_process_marker;
#else
        void *p = dlopen(NULL, RTLD_NOW);
        if (!p) {
            const char *e = dlerror();
            return dup_msg(e ? e : "dlopen(NULL) failed");
        }
        h = (uint64_t)(uintptr_t)p;
#endif
        pthread_mutex_lock(&lock);
        process_handle = h;
    } else {
        if (dylib_fuzz_mode)
            return dup_msg("fuzz mode: only the process handle can be opened");
#ifdef CROSSJIT_STATIC
        char buf[512];
        snprintf(buf, sizeof buf, "%s: cannot open shared object: static executor has no dynamic loader", path);
        return dup_msg(buf);
#else
        /* Same flags as LLVM's DynamicLibrary::getPermanentLibrary. */
        void *p = dlopen(path, RTLD_LAZY | RTLD_GLOBAL);
        if (!p) {
            const char *e = dlerror();
            return dup_msg(e ? e : "dlopen failed");
        }
        h = (uint64_t)(uintptr_t)p;
        pthread_mutex_lock(&lock);
#endif
    }
    int full = remember(h);
    pthread_mutex_unlock(&lock);
    if (full)
        return dup_msg("open: too many open dylibs");
    *handle = h;
    return NULL;
}

int dylib_known(uint64_t handle)
{
    pthread_mutex_lock(&lock);
    int ok = 0;
    for (size_t i = 0; i < nhandles; i++)
        if (handles[i] == handle)
            ok = 1;
    pthread_mutex_unlock(&lock);
    return ok;
}

uint64_t dylib_lookup(uint64_t handle, const char *name)
{
    pthread_mutex_lock(&lock);
    int is_process = handle == process_handle;
    pthread_mutex_unlock(&lock);
    if (is_process) {
        /* Our wrappers resolve even when the binary is stripped or static. */
        uint64_t a = wrappers_export_lookup(name);
        if (a)
            return a;
    }
#ifdef CROSSJIT_STATIC
    return is_process ? static_syms_lookup(name) : 0;
#else
    if (dylib_fuzz_mode)
        return 0;
    void *p = dlsym((void *)(uintptr_t)handle, name);
    if (p || !is_process)
        return (uint64_t)(uintptr_t)p;
    pthread_mutex_lock(&lock);
    if (!extras_tried) {
        extras_tried = 1;
        for (size_t i = 0; i < sizeof process_extras / sizeof process_extras[0]; i++)
        {
            extra_handles[i] = dlopen(process_extras[i], RTLD_LAZY | RTLD_GLOBAL);
            if (extra_handles[i] && !strcmp(process_extras[i], "libstdc++.so.6"))
                init_cxx_streams(extra_handles[i]);
        }
    }
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < sizeof process_extras / sizeof process_extras[0]; i++)
        if (extra_handles[i] && (p = dlsym(extra_handles[i], name)))
            return (uint64_t)(uintptr_t)p;
    return 0;
#endif
}
