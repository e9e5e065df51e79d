/* fuzz_shard — every message a shard decodes from the router (internals.md "The binary
 * protocol": REQ with every op, REQN, LOC, GWHB, FWD idx_add/idx_del/idx_ack/push), through
 * shard_handle on a real store in a temporary folder.
 *
 * An input is one or more messages separated by a line "--", each its frames joined by
 * '\n' in the text form of pl_msgtext.h (e.g. "REQ\ng/x\n1\n{\"op\":\"send\",...}"),
 * translated to the binary message; a text that is none goes in as raw frames (the last
 * one the message, the one before the address), so binary junk reaches the decoder too.
 * After each input the group commit is
 * flushed, as at the end of a drain of the shard's socket. The shard lives for the whole
 * run, like a real one: state carries over between inputs (a finding that needs earlier
 * inputs shows in libFuzzer's log; put the sequence in one input as a regression). Every
 * ok answer's body must be a JSON object (shard_env.c). */
#define _GNU_SOURCE /* memmem */
#include <string.h>

#include "fuzz_util.h"
#include "shard_env.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_shard();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    shard_t *sh = fuzz_shard();
    const uint8_t *p = data, *end = data + size;
    /* sync/history splice stored messages verbatim; the messages stored here all came
     * through `send`, so their answers must be JSON objects too */
    fuzz_shard_check_ok = true;
    while (p < end) {
        const uint8_t *sep = memmem(p, (size_t)(end - p), "\n--\n", 4);
        const uint8_t *stop = sep ? sep : end;
        zmsg_t *msg = fuzz_msg(p, (size_t)(stop - p));
        fuzz_shard_text(msg);
        zmsg_destroy(&msg);
        p = sep ? sep + 4 : end;
    }
    shard_flush(sh);
    return 0;
}
