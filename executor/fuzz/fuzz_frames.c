/* libFuzzer target over the frame parser, SPS decoders and every wrapper's
 * argument decoding, driven through the same path a socket would use.
 * Input: a stream of frames. A CallWrapper's tag is mapped onto the wrapper
 * table by index (addresses differ per run). Fuzz mode refuses to execute
 * JIT memory and caps reservations, so the fuzzer cannot make us run its
 * bytes as code. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dylib.h"
#include "frame.h"
#include "memmgr.h"
#include "session.h"
#include "sps.h"
#include "wrappers.h"

static void setup_once(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    memmgr_fuzz_mode = 1;
    dylib_fuzz_mode = 1;
    int fd = open("/dev/null", O_WRONLY);
    session_init_for_fuzzing(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_once();
    while (size >= FRAME_HEADER_SIZE) {
        struct frame_header h;
        int st = frame_decode_header(data, &h);
        data += FRAME_HEADER_SIZE;
        size -= FRAME_HEADER_SIZE;
        if (st != FRAME_OK)
            break;
        size_t n = h.size < size ? (size_t)h.size : size; /* truncated: take the rest */
        uint8_t *payload = n ? malloc(n) : NULL;
        if (n && !payload)
            break;
        if (n)
            memcpy(payload, data, n);
        data += n;
        size -= n;
        h.size = n;
        if (h.op == OP_CALL) {
            uint64_t addr;
            if (wrappers_at((size_t)(h.tag % (wrappers_count() + 1)), &addr))
                h.tag = addr; /* else: an unknown tag */
        }
        if (session_handle_frame(&h, payload) != 0)
            break;
    }
    memmgr_release_all();
    return 0;
}
