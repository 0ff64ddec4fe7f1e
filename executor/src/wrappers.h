/* The bootstrap wrapper table: what Setup publishes, and the only addresses
 * (besides finalized JIT code) a CallWrapper or allocation action may call. */
#ifndef CROSSJIT_WRAPPERS_H
#define CROSSJIT_WRAPPERS_H

#include <stdint.h>

#include "sps.h"
#include "wfr.h"

/* The wrapper at addr, or NULL if addr is not one of ours. */
wrapper_fn wrappers_find(uint64_t addr);
enum {
    WRAPPER_THREAD = 1,    /* may call JIT code or block: run on its own thread */
    WRAPPER_RUNS_CODE = 2, /* runs JIT'd code that may never return (run_as_*) */
};
int wrappers_flags(uint64_t addr);
/* Executor exports resolvable through the process handle. */
uint64_t wrappers_export_lookup(const char *name);
/* Append the Setup bootstrap symbol sequence (LLVM 16 names). */
void wrappers_put_bootstrap(sps_out *out, uint64_t dispatch_ctx, uint64_t dispatch_fn);
size_t wrappers_count(void);
/* Wrapper number i (for the fuzzer, which cannot know addresses). */
wrapper_fn wrappers_at(size_t i, uint64_t *addr);

#ifdef CROSSJIT_STATIC
uint64_t static_syms_lookup(const char *name);
#endif

#endif
