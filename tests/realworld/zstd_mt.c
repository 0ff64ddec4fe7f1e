/* Multi-threaded zstd round trip: the workload of tests/realworld (zstd itself is fetched).
 * usage: zstd_mt IN OUT  -- compresses IN with 4 worker threads into OUT (one zstd frame),
 * decompresses OUT again and prints what it checked; exit 0 only if the round trip is exact. */
#define ZSTD_STATIC_LINKING_ONLY
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "zstd.h"

static void *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    void *buf = malloc(*size ? *size : 1);
    if (fread(buf, 1, *size, f) != *size) { perror(path); exit(2); }
    fclose(f);
    return buf;
}

static void must(size_t rc, const char *what) {
    if (ZSTD_isError(rc)) { fprintf(stderr, "%s: %s\n", what, ZSTD_getErrorName(rc)); exit(3); }
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s IN OUT\n", argv[0]); return 2; }
    size_t n;
    void *in = slurp(argv[1], &n);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    must(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 5), "level");
    /* nbWorkers > 0 is refused unless zstd was built with ZSTD_MULTITHREAD. */
    must(ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, 4), "nbWorkers");
    must(ZSTD_CCtx_setParameter(cctx, ZSTD_c_jobSize, 512 * 1024), "jobSize");
    must(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "checksum");
    int workers = -1;
    must(ZSTD_CCtx_getParameter(cctx, ZSTD_c_nbWorkers, &workers), "get nbWorkers");
    size_t cap = ZSTD_compressBound(n);
    char *out = malloc(cap);
    size_t csize = ZSTD_compress2(cctx, out, cap, in, n);
    must(csize, "compress");
    ZSTD_frameProgression fp = ZSTD_getFrameProgression(cctx);
    ZSTD_freeCCtx(cctx);
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(out, 1, csize, f) != csize || fclose(f)) { perror(argv[2]); return 2; }
    unsigned long long content = ZSTD_getFrameContentSize(out, csize);
    char *back = malloc(n ? n : 1);
    size_t dsize = ZSTD_decompress(back, n, out, csize);
    must(dsize, "decompress");
    int same = dsize == n && memcmp(back, in, n) == 0;
    printf("zstd %s workers=%d in=%zu out=%zu content=%llu consumed=%llu same=%d\n",
           ZSTD_versionString(), workers, n, csize, content,
           (unsigned long long)fp.consumed, same);
    free(in); free(out); free(back);
    return same ? 0 : 1;
}
