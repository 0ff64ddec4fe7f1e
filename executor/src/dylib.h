/* Dylib manager: handles for the executor process ("") and named libraries,
 * and symbol lookups through them. */
#ifndef CROSSJIT_DYLIB_H
#define CROSSJIT_DYLIB_H

#include <stdint.h>

/* NULL on success (handle set), else malloc'ed message. */
char *dylib_open(const char *path, uint64_t mode, uint64_t *handle);
/* 1 if handle came from dylib_open. */
int dylib_known(uint64_t handle);
/* Address of name through handle, 0 if missing. */
uint64_t dylib_lookup(uint64_t handle, const char *name);

extern int dylib_fuzz_mode; /* only the process handle may be opened */

#endif
