#include "sps.h"

#include <stdlib.h>
#include <string.h>

void sps_in_init(sps_in *in, const void *data, size_t size)
{
    in->p = data;
    in->n = data ? size : 0;
    in->err = 0;
}

static int take(sps_in *in, size_t k, const uint8_t **at)
{
    if (in->err || in->n < k) {
        in->err = 1;
        return -1;
    }
    *at = in->p;
    in->p += k;
    in->n -= k;
    return 0;
}

static uint64_t le(const uint8_t *b, int k)
{
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

int sps_u8(sps_in *in, uint8_t *v)
{
    const uint8_t *b;
    if (take(in, 1, &b))
        return -1;
    *v = b[0];
    return 0;
}

int sps_bool(sps_in *in, int *v)
{
    uint8_t b;
    if (sps_u8(in, &b))
        return -1;
    *v = b != 0;
    return 0;
}

int sps_u16(sps_in *in, uint16_t *v)
{
    const uint8_t *b;
    if (take(in, 2, &b))
        return -1;
    *v = (uint16_t)le(b, 2);
    return 0;
}

int sps_u32(sps_in *in, uint32_t *v)
{
    const uint8_t *b;
    if (take(in, 4, &b))
        return -1;
    *v = (uint32_t)le(b, 4);
    return 0;
}

int sps_u64(sps_in *in, uint64_t *v)
{
    const uint8_t *b;
    if (take(in, 8, &b))
        return -1;
    *v = le(b, 8);
    return 0;
}

int sps_bytes(sps_in *in, const uint8_t **data, size_t *len)
{
    uint64_t n;
    if (sps_u64(in, &n))
        return -1;
    if (n > in->n) {
        in->err = 1;
        return -1;
    }
    *len = (size_t)n;
    return take(in, (size_t)n, data);
}

int sps_count(sps_in *in, uint64_t *count, size_t min_elem_size)
{
    uint64_t n;
    if (sps_u64(in, &n))
        return -1;
    if (min_elem_size && n > in->n / min_elem_size) {
        in->err = 1;
        return -1;
    }
    *count = n;
    return 0;
}

char *sps_strdup(const uint8_t *data, size_t len)
{
    if (len && memchr(data, 0, len))
        return NULL;
    char *s = malloc(len + 1);
    if (!s)
        return NULL;
    if (len)
        memcpy(s, data, len);
    s[len] = 0;
    return s;
}

void sps_out_init(sps_out *out) { memset(out, 0, sizeof *out); }

static uint8_t *room(sps_out *out, size_t k)
{
    if (out->oom)
        return NULL;
    if (k > SIZE_MAX - out->n) {
        out->oom = 1;
        return NULL;
    }
    if (out->n + k > out->cap) {
        size_t cap = out->cap ? out->cap : 64;
        while (cap < out->n + k)
            cap = cap > SIZE_MAX / 2 ? out->n + k : cap * 2;
        uint8_t *p = realloc(out->p, cap);
        if (!p) {
            out->oom = 1;
            return NULL;
        }
        out->p = p;
        out->cap = cap;
    }
    uint8_t *at = out->p + out->n;
    out->n += k;
    return at;
}

static void put_le(sps_out *out, uint64_t v, int k)
{
    uint8_t *b = room(out, (size_t)k);
    if (!b)
        return;
    for (int i = 0; i < k; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

void sps_put_u8(sps_out *out, uint8_t v) { put_le(out, v, 1); }
void sps_put_u16(sps_out *out, uint16_t v) { put_le(out, v, 2); }
void sps_put_u32(sps_out *out, uint32_t v) { put_le(out, v, 4); }
void sps_put_u64(sps_out *out, uint64_t v) { put_le(out, v, 8); }

void sps_put_bytes(sps_out *out, const void *data, size_t len)
{
    sps_put_u64(out, len);
    uint8_t *b = room(out, len);
    if (b && len)
        memcpy(b, data, len);
}

void sps_put_str(sps_out *out, const char *s) { sps_put_bytes(out, s, strlen(s)); }

void sps_out_free(sps_out *out)
{
    free(out->p);
    sps_out_init(out);
}
