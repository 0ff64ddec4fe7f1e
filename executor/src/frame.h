/* SimpleRemoteEPC framing: 32-byte header (u64 size incl. header, opcode,
 * seqno, tag address), then the payload. */
#ifndef CROSSJIT_FRAME_H
#define CROSSJIT_FRAME_H

#include <stddef.h>
#include <stdint.h>

enum { OP_SETUP = 0, OP_HANGUP = 1, OP_RESULT = 2, OP_CALL = 3 };

#define FRAME_HEADER_SIZE 32
/* No LLVM message comes near this; a larger claim is a broken peer and we
 * disconnect instead of trying to allocate it. */
#define FRAME_MAX_SIZE ((uint64_t)1 << 30)

struct frame_header {
    uint64_t size; /* payload size (MsgSize - 32) */
    uint8_t op;
    uint64_t seq;
    uint64_t tag;
};

enum frame_status {
    FRAME_OK = 0,
    FRAME_EOF = 1,        /* clean end of stream on a message boundary */
    FRAME_TRUNCATED = -1, /* EOF inside a message */
    FRAME_TOO_SMALL = -2,
    FRAME_TOO_LARGE = -3,
    FRAME_BAD_OPCODE = -4,
    FRAME_IO = -5,
    FRAME_NOMEM = -6,
};

/* Decode and validate a header; only the opcode's low byte counts (as LLVM). */
int frame_decode_header(const uint8_t raw[FRAME_HEADER_SIZE], struct frame_header *h);
void frame_encode_header(uint8_t raw[FRAME_HEADER_SIZE], uint8_t op, uint64_t seq,
                         uint64_t tag, size_t payload_size);
const char *frame_status_str(int status);

/* Blocking stream IO. read_full: 0 ok, 1 EOF before any byte, -1 EOF inside,
 * -2 error. */
int fd_read_full(int fd, void *buf, size_t n);
int fd_write_full(int fd, const void *buf, size_t n);

/* Read one frame. *payload is malloc'ed (NULL when empty). */
int frame_read(int fd, struct frame_header *h, uint8_t **payload);

#endif
