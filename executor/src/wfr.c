#include "wfr.h"

#include <stdlib.h>
#include <string.h>

cwfr wfr_empty(void)
{
    cwfr r;
    memset(&r, 0, sizeof r);
    return r;
}

cwfr wfr_oob(const char *msg)
{
    cwfr r = wfr_empty();
    size_t n = strlen(msg) + 1;
    r.Data.ValuePtr = malloc(n);
    if (r.Data.ValuePtr)
        memcpy(r.Data.ValuePtr, msg, n);
    return r;
}

cwfr wfr_take(uint8_t *buf, size_t n)
{
    cwfr r = wfr_empty();
    if (n <= sizeof r.Data.Value) {
        if (n)
            memcpy(r.Data.Value, buf, n);
        free(buf);
    } else {
        r.Data.ValuePtr = (char *)buf;
    }
    r.Size = n;
    return r;
}

cwfr wfr_copy(const void *bytes, size_t n)
{
    uint8_t *b = NULL;
    if (n) {
        b = malloc(n);
        if (!b)
            return wfr_oob("out of memory");
        memcpy(b, bytes, n);
    }
    return wfr_take(b, n);
}

static cwfr flag_and_string(uint8_t flag, const char *msg)
{
    size_t len = strlen(msg);
    uint8_t *b = malloc(9 + len);
    if (!b)
        return wfr_oob("out of memory");
    b[0] = flag;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (uint8_t)((uint64_t)len >> (8 * i));
    memcpy(b + 9, msg, len);
    return wfr_take(b, 9 + len);
}

cwfr wfr_error_ok(void)
{
    uint8_t z = 0;
    return wfr_copy(&z, 1);
}

cwfr wfr_error_msg(const char *msg) { return flag_and_string(1, msg); }

cwfr wfr_expected_u64(uint64_t v)
{
    uint8_t b[9];
    b[0] = 1;
    for (int i = 0; i < 8; i++)
        b[1 + i] = (uint8_t)(v >> (8 * i));
    return wfr_copy(b, 9);
}

cwfr wfr_expected_fail(const char *msg) { return flag_and_string(0, msg); }

const uint8_t *wfr_bytes(const cwfr *r)
{
    return r->Size <= sizeof r->Data.Value ? (const uint8_t *)r->Data.Value
                                           : (const uint8_t *)r->Data.ValuePtr;
}

int wfr_is_oob(const cwfr *r) { return r->Size == 0 && r->Data.ValuePtr != NULL; }

void wfr_free(cwfr *r)
{
    if (r->Size > sizeof r->Data.Value || wfr_is_oob(r))
        free(r->Data.ValuePtr);
    *r = wfr_empty();
}
