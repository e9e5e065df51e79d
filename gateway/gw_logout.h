/* gw_logout — DELETE /v1/sessions, revoked tokens (logout.c). Loop thread only unless a comment
 * says otherwise. */
#ifndef GW_LOGOUT_H
#define GW_LOGOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;
typedef struct gw_session gw_session_t;
typedef struct gw_http_req gw_http_req_t;

/* DELETE /v1/sessions[?all=1] of r (its body, if any, ignored): 204 / 400 / 401 / 503. */
void gw_logout_http(gw_http_req_t *r);
/* True for the shard's {"type":"_revoke",...} control event (never sent to clients). */
bool gw_logout_is_control(const char *event, size_t len);
/* Close (4401) every authenticated session here that used one of the event's tokens:
 * after the answers still due, but at most GW_REVOKE_WAIT_MS later (gw_logout_session_timer). */
void gw_logout_revoke(gw_t *gw, const char *event, size_t len);
/* LWS_CALLBACK_TIMER of s: a revoked session still waiting for answers closes now. */
void gw_logout_session_timer(gw_session_t *s);

#endif
