/* gw_push — push_register, push_list, push_unregister and GET /v1/push/vapid (push.c). Loop thread
 * only unless a comment says otherwise. */
#ifndef GW_PUSH_H
#define GW_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct gw gw_t;
typedef struct session session_t;
typedef struct pending pending_t;
typedef struct http_req http_req_t;

/* Load --vapid-key (if given) and keep its public key. 0, or -1 (logged): exit. */
int push_init(gw_t *gw);
/* GET /v1/push/vapid: 200 {"public_key"} or 503 unavailable without a key. */
void push_vapid_http(http_req_t *r);
/* The `push_register` request of s into p. */
void push_register(session_t *s, pending_t *p, const char *id_json, json_t *req);
/* `push_list` (the caller's targets, no secrets) and `push_unregister` (by push_id). */
void push_list(session_t *s, pending_t *p, const char *id_json, json_t *req);
void push_unregister(session_t *s, pending_t *p, const char *id_json, json_t *req);

#endif
