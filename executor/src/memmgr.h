/* JIT memory: reserve / finalize / deallocate (LLVM 14-21 semantics), plus
 * the queries every other component uses before touching memory or running
 * code, so the executor never writes outside memory it mapped and never
 * calls an address that is not finalized executable JIT memory. */
#ifndef CROSSJIT_MEMMGR_H
#define CROSSJIT_MEMMGR_H

#include <stddef.h>
#include <stdint.h>

#include "wfr.h"

enum { PROT_R_ = 1, PROT_W_ = 2, PROT_X_ = 4 };

struct fin_segment {
    uint8_t prot;
    uint64_t addr, size;
    const uint8_t *content;
    size_t content_len;
};

struct wf_call {
    uint64_t fn; /* 0 = none */
    const uint8_t *args;
    size_t args_len;
};

struct fin_action {
    struct wf_call finalize, dealloc;
};

/* All return NULL on success or a malloc'ed error message. */
char *memmgr_reserve(uint64_t size, uint64_t *base);
char *memmgr_finalize(const struct fin_segment *segs, size_t nsegs,
                      const struct fin_action *acts, size_t nacts);
char *memmgr_deallocate(const uint64_t *bases, size_t n);
/* Executor shutdown: run every remaining dealloc action, unmap all. */
void memmgr_release_all(void);

/* 1 if [addr, addr+len) is inside our reservations and currently writable. */
int memmgr_range_writable(uint64_t addr, uint64_t len);
/* For writers: hold the lock from the check through the copy, so a
 * deallocate or finalize on another thread cannot unmap or protect the
 * range in between (both mark the allocation busy under this lock). */
void memmgr_write_lock(void);
void memmgr_write_unlock(void);
int memmgr_range_writable_locked(uint64_t addr, uint64_t len);
/* 1 if [addr, addr+len) lies inside one reservation (any protection). */
int memmgr_range_mapped(uint64_t addr, uint64_t len);
/* 1 if addr is in a finalized executable segment. */
int memmgr_is_exec(uint64_t addr);

/* Run a wrapper-function call (allocation action) whose result must be an
 * SPS Error. NULL on success, else a malloc'ed message. */
char *run_wrapper_call_error(uint64_t fn, const uint8_t *args, size_t len);

/* Fuzzing: refuse to execute JIT memory and cap reservations. */
extern int memmgr_fuzz_mode;

#endif
