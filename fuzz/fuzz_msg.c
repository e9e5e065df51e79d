/* fuzz_msg — the binary internal codec (proto/pl_msg.h) on its own.
 *
 * An input is one message frame as it arrives after the routing id. A message that
 * decodes must re-encode to the same bytes (the format has one encoding per message),
 * every field must lie inside the input, and every field is walked as a name list (the
 * EVT recipients' form) and as op/status names, so a bounds error anywhere shows under
 * ASan. */
#include <stdlib.h>
#include <string.h>

#include "pl_msg.h"
#include "pl_ops.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy: a read past the end is an ASan report */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    pl_msg_t m;
    if (pl_msg_decode(copy, size, &m) == 0) {
        pl_buf_t b = {0};
        if (pl_msg_encode(&b, &m.h, m.nf, m.f) != 0 || b.len != size ||
            memcmp(b.data, copy, size) != 0)
            abort();
        pl_buf_free(&b);
        for (int i = 0; i < m.nf; i++) {
            if (m.f[i].p < copy || m.f[i].p + m.f[i].n > copy + size)
                abort();
            pl_list_it_t it;
            pl_slice_t e;
            pl_list_iter(&it, m.f[i]);
            int rc, guard = 0;
            while ((rc = pl_list_next(&it, &e)) == 1) {
                if (e.p < m.f[i].p || e.p + e.n > m.f[i].p + m.f[i].n || ++guard > (int)size)
                    abort();
            }
        }
        (void)pl_op_name(m.h.op);
        (void)pl_status_name(m.h.status);
        (void)pl_kind_name(m.h.kind);
    } else if (size >= PL_MSG_HDR && copy[0] == PL_MSG_MAGIC) {
        (void)pl_msg_strerror(pl_msg_decode(copy, size, &m));
    }
    free(copy);
    return 0;
}
