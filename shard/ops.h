/* ops — the shard's handler of every request type of proto/pl_ops.def, declared from
 * that table: the handler of op `name` is shard_op_<name>, defined in the module that
 * owns the op's state (accounts.c, conv.c via shard.c, group.c, receipts.c, presence.c,
 * push.c, quota.c). shard.c dispatches REQ and FWD by the header's op id through one array
 * built from the same table, so a row without a handler does not link.
 *
 * Handlers run on the shard's loop thread. gw and reqid name the asker (NULL for FWD:
 * nothing is answered); req is the JSON body (borrowed). A REQ handler answers exactly
 * once, now or at the group commit (shard_reply*). */
#ifndef SHARD_OPS_H
#define SHARD_OPS_H
#include <jansson.h>

#include "pl_ops.h"

typedef struct _shard_t shard_t;
typedef void(shard_op_fn)(shard_t *self, const char *gw, const char *reqid, json_t *req);

#define PL_OP(ID, name, key, flags, fields) shard_op_fn shard_op_##name;
#include "pl_ops.def"
#undef PL_OP

#endif
