/* types — the client request types (gw_types.h), built from gw_types.def. */
#include "gw_types.h"

#include <string.h>

_Static_assert(PL_OP__COUNT <= 64, "a row's `also` mask holds every op");

static const gw_type_def_t s_types[GW_TYPE__COUNT] = {
#define GW_TYPE(ID, name, handler, flags, budget, page, op, also)                                  \
    [GW_TYPE_##ID] = {GW_TYPE_##ID, #name, sizeof #name - 1, #handler, flags,                      \
                      budget,       page,  PL_OP_##op,       also},
#include "gw_types.def"
#undef GW_TYPE
};

const gw_type_def_t *gw_type_find(const char *name, size_t n)
{
    /* the length and the first byte first: one memcmp for most known names (two for sync
     * and group_remove, whose length and first byte send and group_create share), none
     * for most unknown ones */
    for (unsigned i = 1; i < GW_TYPE__COUNT; i++)
        if (s_types[i].name_len == n && s_types[i].name[0] == name[0] &&
            memcmp(s_types[i].name, name, n) == 0)
            return &s_types[i];
    return NULL;
}

const gw_type_def_t *gw_type_def(unsigned id)
{
    return id > GW_TYPE_NONE && id < GW_TYPE__COUNT ? &s_types[id] : NULL;
}
