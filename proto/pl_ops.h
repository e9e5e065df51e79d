/* pl_ops — the request types of the internal protocol, built from pl_ops.def (Redis's
 * command table is the model: one table that dispatch, docs and checks come from).
 * Pure data and lookups; any thread. */
#ifndef PL_OPS_H
#define PL_OPS_H
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    PL_KEY_NONE = 0,
    PL_KEY_USER = 'u', /* "u:<user>" */
    PL_KEY_CONV = 'c', /* "c:<conv>" */
    PL_KEY_ANY = '*',  /* any key the receiving shard owns */
} pl_keykind_t;

#define PL_OPF_AUTH 0x01  /* the body names a caller the gateway authenticated */
#define PL_OPF_WRITE 0x02 /* changes stored state */
#define PL_OPF_IDEM 0x04  /* idempotent: a retry of the same request is safe */
#define PL_OPF_FWD 0x08   /* shard to shard (kind FWD), never from a gateway */
#define PL_OPF_BIN 0x10   /* binary body (else a JSON object) */
#define PL_OPF_LIST                                                                                \
    0x20 /* the body lists names of several slots: the shard's handler serves                      \
          * the ones its table gives it (no request-wide slot check) */

/* Op ids: wire values (the header's op byte). 0 is no op. */
typedef enum {
    PL_OP_NONE = 0,
#define PL_OP(ID, name, key, flags, fields) PL_OP_##ID,
#include "pl_ops.def"
#undef PL_OP
    PL_OP__COUNT
} pl_op_t;

typedef struct {
    const char *name;
    pl_keykind_t key;
    unsigned flags;
    const char *fields;
} pl_opdef_t;

/* The row of op, or NULL for PL_OP_NONE and ids out of range. */
const pl_opdef_t *pl_op_def(unsigned op);
/* The op called name (n bytes), or PL_OP_NONE. */
pl_op_t pl_op_by_name(const char *name, size_t n);
/* Name of op for logs ("?" if unknown). */
const char *pl_op_name(unsigned op);
/* True if key (n bytes) has the form op's table row asks for ("u:…", "c:…"). */
bool pl_op_key_ok(unsigned op, const char *key, size_t n);

#endif
