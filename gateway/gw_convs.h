/* gw_convs — the `convs` request (convs.c). Loop thread only unless a comment says otherwise. */
#ifndef GW_CONVS_H
#define GW_CONVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct gw_session gw_session_t;
typedef struct gw_pending gw_pending_t;
typedef struct gw_frame_head gw_frame_head_t;
typedef struct gw_type_def gw_type_def_t;

/* gw_type_fn (gw_types.h): answer the `convs` request of s into p (id_json copied). */
void gw_convs_start(gw_session_t *s, gw_pending_t *p, const char *id_json, const gw_type_def_t *t,
                    gw_frame_head_t *h);

#endif
