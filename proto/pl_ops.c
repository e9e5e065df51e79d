/* pl_ops — see pl_ops.h. */
#include "pl_ops.h"

#include <string.h>

static const pl_opdef_t s_ops[PL_OP__COUNT] = {
#define PL_OP(ID, name, key, flags, fields) [PL_OP_##ID] = {#name, key, flags, fields},
#include "pl_ops.def"
#undef PL_OP
};

const pl_opdef_t *pl_op_def(unsigned op)
{
    return op > PL_OP_NONE && op < PL_OP__COUNT ? &s_ops[op] : NULL;
}

pl_op_t pl_op_by_name(const char *name, size_t n)
{
    for (unsigned i = 1; i < PL_OP__COUNT; i++)
        if (strlen(s_ops[i].name) == n && memcmp(s_ops[i].name, name, n) == 0)
            return (pl_op_t)i;
    return PL_OP_NONE;
}

const char *pl_op_name(unsigned op)
{
    const pl_opdef_t *d = pl_op_def(op);
    return d ? d->name : "?";
}

bool pl_op_key_ok(unsigned op, const char *key, size_t n)
{
    const pl_opdef_t *d = pl_op_def(op);
    if (!d)
        return false;
    switch (d->key) {
    case PL_KEY_USER:
    case PL_KEY_CONV:
        return n > 2 && key[0] == (char)d->key && key[1] == ':';
    case PL_KEY_ANY:
        return n > 2 && key[1] == ':';
    default:
        return n == 0;
    }
}
