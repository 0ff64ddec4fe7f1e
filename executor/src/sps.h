/* SPS (Simple Packed Serialization) codec: little-endian, no padding.
 * The reader is sticky: after the first short read every later read fails,
 * so decoders check `in.err` once at the end. */
#ifndef CROSSJIT_SPS_H
#define CROSSJIT_SPS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *p;
    size_t n;
    int err;
} sps_in;

typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} sps_out;

void sps_in_init(sps_in *in, const void *data, size_t size);
int sps_u8(sps_in *in, uint8_t *v);
int sps_bool(sps_in *in, int *v);
int sps_u16(sps_in *in, uint16_t *v);
int sps_u32(sps_in *in, uint32_t *v);
int sps_u64(sps_in *in, uint64_t *v);
/* Sequence<char>: points into the input, no copy. */
int sps_bytes(sps_in *in, const uint8_t **data, size_t *len);
/* Sequence count; fails unless count * min_elem_size bytes could follow,
 * so a forged count cannot make us allocate unbounded memory. */
int sps_count(sps_in *in, uint64_t *count, size_t min_elem_size);
/* A NUL-terminated malloc'ed copy of a String; fails on embedded NUL. */
char *sps_strdup(const uint8_t *data, size_t len);

void sps_out_init(sps_out *out);
void sps_put_u8(sps_out *out, uint8_t v);
void sps_put_u16(sps_out *out, uint16_t v);
void sps_put_u32(sps_out *out, uint32_t v);
void sps_put_u64(sps_out *out, uint64_t v);
void sps_put_bytes(sps_out *out, const void *data, size_t len);
void sps_put_str(sps_out *out, const char *s);
void sps_out_free(sps_out *out);

#endif
