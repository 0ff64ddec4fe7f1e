/* Unit tests for the SPS codec, frame header and memory checks (make check). */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "memmgr.h"
#include "sps.h"
#include "wfr.h"

static int failures;
#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static void test_sps_roundtrip(void)
{
    sps_out o;
    sps_out_init(&o);
    sps_put_u8(&o, 7);
    sps_put_u32(&o, 0xdeadbeef);
    sps_put_u64(&o, 0x0102030405060708ull);
    sps_put_str(&o, "hi");
    CHECK(!o.oom && o.n == 1 + 4 + 8 + 8 + 2);
    sps_in in;
    uint8_t a;
    uint32_t b;
    uint64_t c;
    const uint8_t *s;
    size_t sl;
    sps_in_init(&in, o.p, o.n);
    sps_u8(&in, &a);
    sps_u32(&in, &b);
    sps_u64(&in, &c);
    sps_bytes(&in, &s, &sl);
    CHECK(!in.err && a == 7 && b == 0xdeadbeef && c == 0x0102030405060708ull);
    CHECK(sl == 2 && !memcmp(s, "hi", 2) && in.n == 0);
    CHECK(sps_u8(&in, &a) == -1 && in.err); /* sticky short read */
    sps_out_free(&o);
}

static void test_sps_bounds(void)
{
    uint8_t huge_len[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'x'};
    sps_in in;
    const uint8_t *p;
    size_t n;
    sps_in_init(&in, huge_len, 9);
    CHECK(sps_bytes(&in, &p, &n) == -1);
    uint64_t cnt;
    uint8_t count[8] = {0, 0, 0, 0, 0, 0, 0, 0x40};
    sps_in_init(&in, count, 8);
    CHECK(sps_count(&in, &cnt, 8) == -1); /* 2^62 elements cannot follow */
    CHECK(sps_strdup((const uint8_t *)"a\0b", 3) == NULL);
}

static void test_frame_header(void)
{
    uint8_t raw[32];
    struct frame_header h;
    frame_encode_header(raw, OP_CALL, 5, 0x1234, 10);
    CHECK(frame_decode_header(raw, &h) == FRAME_OK && h.size == 10 && h.op == 3 && h.seq == 5 &&
          h.tag == 0x1234);
    raw[9] = 1; /* opcode 0x103: only the low byte counts */
    CHECK(frame_decode_header(raw, &h) == FRAME_OK && h.op == OP_CALL);
    raw[8] = 4;
    CHECK(frame_decode_header(raw, &h) == FRAME_BAD_OPCODE);
    memset(raw, 0, 8);
    raw[0] = 31;
    CHECK(frame_decode_header(raw, &h) == FRAME_TOO_SMALL);
    memset(raw, 0xff, 8);
    CHECK(frame_decode_header(raw, &h) == FRAME_TOO_LARGE);
}

static void test_wfr(void)
{
    cwfr r = wfr_expected_u64(42);
    CHECK(r.Size == 9 && wfr_bytes(&r)[0] == 1 && wfr_bytes(&r)[1] == 42);
    wfr_free(&r);
    r = wfr_error_ok();
    CHECK(r.Size == 1 && wfr_bytes(&r)[0] == 0);
    wfr_free(&r);
    r = wfr_oob("x");
    CHECK(wfr_is_oob(&r));
    wfr_free(&r);
}

static void test_memmgr_checks(void)
{
    uint64_t base;
    CHECK(memmgr_reserve(8192, &base) == NULL);
    CHECK(memmgr_range_writable(base, 8192) && !memmgr_range_writable(base, 8193));
    CHECK(!memmgr_range_writable(base - 1, 2) && !memmgr_is_exec(base));
    struct fin_segment segs[2] = {{5, base, 4096, (const uint8_t *)"\xc3", 1},
                                  {3, base + 4096, 4096, NULL, 0}};
    CHECK(memmgr_finalize(segs, 2, NULL, 0) == NULL);
    CHECK(memmgr_is_exec(base) && !memmgr_is_exec(base + 4096));
    CHECK(!memmgr_range_writable(base, 1) && memmgr_range_writable(base + 4096, 4096));
    CHECK(memmgr_deallocate(&base, 1) == NULL);
    CHECK(!memmgr_range_writable(base + 4096, 1));
    char *e = memmgr_deallocate(&base, 1);
    CHECK(e && strstr(e, "No allocation entry"));
    free(e);
}

/* A segment starting past the end of its reservation must be refused, not
 * written (end - addr must not wrap). */
static void test_memmgr_segment_past_end(void)
{
    uint64_t base;
    CHECK(memmgr_reserve(4096, &base) == NULL);
    struct fin_segment segs[2] = {{3, base, 16, NULL, 0},
                                  {3, base + ((uint64_t)1 << 40), 16, NULL, 0}};
    char *e = memmgr_finalize(segs, 2, NULL, 0);
    CHECK(e && strstr(e, "crosses boundary"));
    free(e);
    CHECK(memmgr_range_writable(base, 4096)); /* untouched, still reserved */
    CHECK(memmgr_deallocate(&base, 1) == NULL);
}

int main(void)
{
    test_sps_roundtrip();
    test_sps_bounds();
    test_frame_header();
    test_wfr();
    test_memmgr_checks();
    test_memmgr_segment_past_end();
    if (failures)
        return 1;
    puts("test-units: all passed");
    return 0;
}
