/* gw_convs — the `convs` request (convs.c). Loop thread only unless a comment says otherwise. */
#ifndef GW_CONVS_H
#define GW_CONVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct session session_t;
typedef struct pending pending_t;

/* Answer the `convs` request req of s into p (id_json copied). */
void convs_start(session_t *s, pending_t *p, const char *id_json, json_t *req);

#endif
