/* One controller session over a byte stream: Setup, the frame loop,
 * CallWrapper dispatch (inline or on a thread), executor->controller calls,
 * and orderly shutdown. */
#ifndef CROSSJIT_SESSION_H
#define CROSSJIT_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "wfr.h"

/* Serve until Hangup/EOF (returns 0) or a protocol error (returns 1). */
int session_serve(int in_fd, int out_fd);

/* Handle one decoded frame (takes ownership of payload). 0 continue,
 * 1 orderly end, -1 protocol error. Exposed for the fuzzer. */
int session_handle_frame(const struct frame_header *h, uint8_t *payload);

/* For the fuzzer: run every call inline, write to out_fd. */
void session_init_for_fuzzing(int out_fd);

/* __llvm_orc_SimpleRemoteEPC_dispatch_fn */
cwfr crossjit_dispatch(void *ctx, const void *tag, const char *data, size_t size);

extern int session_verbose;

#endif
