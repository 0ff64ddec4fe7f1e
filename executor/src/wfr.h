/* Wrapper-function results: the C ABI LLVM calls CWrapperFunctionResult.
 * Size <= 8: bytes inline; Size > 8: malloc'ed buffer the caller frees;
 * Size == 0 with a pointer: out-of-band error message (caller frees). */
#ifndef CROSSJIT_WFR_H
#define CROSSJIT_WFR_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    union {
        char *ValuePtr;
        char Value[8];
    } Data;
    size_t Size;
} cwfr;

typedef cwfr (*wrapper_fn)(const char *data, size_t size);

cwfr wfr_empty(void);
cwfr wfr_oob(const char *msg);
/* Takes ownership of buf (malloc'ed, may be NULL when n == 0). */
cwfr wfr_take(uint8_t *buf, size_t n);
cwfr wfr_copy(const void *bytes, size_t n);
/* SPS Error: success is 00, failure 01 + String. */
cwfr wfr_error_ok(void);
cwfr wfr_error_msg(const char *msg);
/* SPS Expected<u64>: success 01 + value, failure 00 + String. */
cwfr wfr_expected_u64(uint64_t v);
cwfr wfr_expected_fail(const char *msg);

const uint8_t *wfr_bytes(const cwfr *r);
int wfr_is_oob(const cwfr *r);
void wfr_free(cwfr *r);

#endif
