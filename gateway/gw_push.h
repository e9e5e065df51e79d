/* gw_push — push_register, push_list, push_unregister and GET /v1/push/vapid (push.c). Loop thread
 * only unless a comment says otherwise. */
#ifndef GW_PUSH_H
#define GW_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct gw gw_t;
typedef struct gw_session gw_session_t;
typedef struct gw_pending gw_pending_t;
typedef struct gw_frame_head gw_frame_head_t;
typedef struct gw_type_def gw_type_def_t;
typedef struct gw_http_req gw_http_req_t;

/* Load --vapid-key (if given) and keep its public key. 0, or -1 (logged): exit. */
int gw_push_init(gw_t *gw);
/* GET /v1/push/vapid: 200 {"public_key"} or 503 unavailable without a key. */
void gw_push_vapid_http(gw_http_req_t *r);
/* gw_type_fn (gw_types.h): the `push_register` request of s into p. */
void gw_push_register(gw_session_t *s, gw_pending_t *p, const char *id_json, const gw_type_def_t *t,
                      gw_frame_head_t *h);
/* gw_type_fn: `push_list` (the caller's targets, no secrets) and `push_unregister` (by
 * push_id). */
void gw_push_list(gw_session_t *s, gw_pending_t *p, const char *id_json, const gw_type_def_t *t,
                  gw_frame_head_t *h);
void gw_push_unregister(gw_session_t *s, gw_pending_t *p, const char *id_json,
                        const gw_type_def_t *t, gw_frame_head_t *h);

#endif
