/* gw_groups — group_create, group_add, group_remove (groups.c). Loop thread only unless a comment
 * says otherwise. */
#ifndef GW_GROUPS_H
#define GW_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct gw_session gw_session_t;
typedef struct gw_pending gw_pending_t;
typedef struct gw_frame_head gw_frame_head_t;
typedef struct gw_type_def gw_type_def_t;

/* gw_type_fn (gw_types.h) of group_create, group_add, group_remove (t is one of their rows). */
void gw_groups_request(gw_session_t *s, gw_pending_t *p, const char *id_json,
                       const gw_type_def_t *t, gw_frame_head_t *h);

#endif
