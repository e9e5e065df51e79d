/* gw_groups — group_create, group_add, group_remove (groups.c). Loop thread only unless a comment
 * says otherwise. */
#ifndef GW_GROUPS_H
#define GW_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct session session_t;
typedef struct pending pending_t;

/* group_create, group_add, group_remove (type is one of these). */
void groups_request(session_t *s, pending_t *p, const char *id_json, const char *type, json_t *req);

#endif
