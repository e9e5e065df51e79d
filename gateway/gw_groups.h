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

/* group_create, group_add, group_remove (type is one of these). */
void gw_groups_request(gw_session_t *s, gw_pending_t *p, const char *id_json, const char *type,
                       json_t *req);

#endif
