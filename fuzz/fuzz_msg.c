/* fuzz_msg — the binary internal codec (proto/pl_msg.h) on its own.
 *
 * An input is one message frame as it arrives after the routing id. A message that
 * decodes must re-encode to the same bytes (the format has one encoding per message),
 * every field must lie inside the input, and every field is walked as a name list (the
 * EVT recipients' form) and as op/status names, so a bounds error anywhere shows under
 * ASan. A BATCH is also checked and walked: pl_batch_check accepts it exactly when the
 * iterator yields its count of entries without an error, each entry a REP or EVT that
 * re-encodes to its own bytes and lies inside the input, and re-adding the entries
 * rebuilds the batch byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "pl_msg.h"
#include "pl_ops.h"

static void s_batch(const pl_msg_t *m, const uint8_t *copy, size_t size)
{
    int check = pl_batch_check(m);
    pl_batch_it_t it;
    pl_msg_t in;
    pl_buf_t b = {0}, one = {0};
    uint64_t n = 0;
    int rc;
    if (pl_batch_begin(&b) != 0)
        abort();
    pl_batch_iter(&it, m);
    while ((rc = pl_batch_next(&it, &in)) == 1) {
        if (in.h.kind != PL_K_REP && in.h.kind != PL_K_EVT)
            abort();
        for (int i = 0; i < in.nf; i++)
            if (in.f[i].p < copy || in.f[i].p + in.f[i].n > copy + size)
                abort();
        if (pl_msg_encode(&one, &in.h, in.nf, in.f) != 0 || pl_batch_add(&b, one.data, one.len))
            abort();
        n++;
    }
    if (rc > 0 || pl_batch_next(&it, &in) != 0) /* the end, or stopped after an error */
        abort();
    if ((check == 0) != (rc == 0 && n == m->h.id))
        abort();
    /* a batch that checks is the one its entries make (the header's other fields aside) */
    if (check == 0 && m->h.flags == 0 && m->h.op == 0 && m->h.status == 0 && m->h.shard == 0 &&
        m->h.seq == 0 && (b.len != size || memcmp(b.data, copy, size) != 0))
        abort();
    pl_buf_free(&one);
    pl_buf_free(&b);
}

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
        if (m.h.kind == PL_K_BATCH)
            s_batch(&m, copy, size);
        (void)pl_op_name(m.h.op);
        (void)pl_status_name(m.h.status);
        (void)pl_kind_name(m.h.kind);
    } else if (size >= PL_MSG_HDR && copy[0] == PL_MSG_MAGIC) {
        (void)pl_msg_strerror(pl_msg_decode(copy, size, &m));
    }
    free(copy);
    return 0;
}
