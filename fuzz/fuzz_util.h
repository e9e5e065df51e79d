/* fuzz_util — what the harnesses share: the input split into frames.
 *
 * A harness input that stands for a multipart ZeroMQ message is its frames joined by
 * '\n' (a frame cannot hold '\n' then; none of ours needs one: JSON escapes it). The
 * seed corpus (fuzz/corpus/<target>/) is written that way, so it reads as text. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H
#include <czmq.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A new message of the '\n'-separated frames of data (an empty input is one empty frame).
 * Caller destroys. */
static inline zmsg_t *fuzz_msg(const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new();
    const uint8_t *p = data, *end = data + size;
    for (;;) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        const uint8_t *stop = nl ? nl : end;
        zmsg_addmem(msg, p, (size_t)(stop - p));
        if (!nl)
            break;
        p = nl + 1;
    }
    return msg;
}

#endif
