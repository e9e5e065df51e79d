/* gw_limits — request rate, per-IP caps, the auth deadline, dm probe budgets (limits.c). Loop
 * thread only unless a comment says otherwise. */
#ifndef GW_LIMITS_H
#define GW_LIMITS_H

#include <uv.h> /* before libwebsockets.h */
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;
typedef struct gw_session gw_session_t;
typedef struct gw_http_req gw_http_req_t;
typedef struct gw_conn gw_conn_t;
typedef struct gw_cidr gw_cidr_t;

/* Parse "ADDR" or "ADDR/BITS" (IPv4 or IPv6) and append it to *arr (realloc'd, caller
 * frees). 0, or -1 if it is not one (or OOM). */
int gw_cidr_parse(const char *text, gw_cidr_t **arr, int *n);
/* True if the numeric address ip lies in one of --trusted-proxies. */
bool gw_limits_trusted(const gw_t *gw, const char *ip);
/* The state of one accepted connection with client address addr; NULL on OOM. Owned by
 * whoever holds it: the wsi (opaque user data) from SERVER_NEW_CLIENT_INSTANTIATED on. */
gw_conn_t *gw_limits_conn_new(const char *addr);
/* Releases its connection count; nulls *c_p. Idempotent. */
void gw_limits_conn_free(gw_conn_t **c_p);
int gw_limits_init(gw_t *gw);
/* After the lws context is wholly destroyed (no WSI_DESTROY may follow). */
void gw_limits_fini(gw_t *gw);
/* Once a second: forget addresses without connections whose login bucket is full. */
void gw_limits_tick(gw_t *gw);
/* The accepted fd (FILTER_NETWORK_CONNECTION) comes from one of --trusted-proxies: its
 * numeric address is put in ip (size bytes) and the caller hands fd to gw_proxy_accept
 * instead of gw_limits_conn_callback. */
bool gw_limits_proxy_peer(gw_t *gw, int fd, char *ip, size_t size);
/* lws reasons FILTER_NETWORK_CONNECTION (in: the accepted fd; not one of a trusted proxy,
 * see gw_limits_proxy_peer), SERVER_NEW_CLIENT_INSTANTIATED (takes gw->adopting if set),
 * FILTER_PROTOCOL_CONNECTION (a trusted proxy's WebSocket upgrade is counted against the
 * forwarded client) and WSI_DESTROY: per-IP connection count. Nonzero: refuse. */
int gw_limits_conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *in);
/* POST /v1/users or /v1/sessions: take a token of the client address; false: answer 429. */
bool gw_limits_login_allowed(gw_http_req_t *r);
/* A request of the authenticated session s: take a token; false: over the rate. */
bool gw_limits_request_allowed(gw_session_t *s);
/* dm: user-existence answers, per user and per client address of this gateway
 * (enumeration): may user (connected from ip) learn whether other exists now? True when
 * other was confirmed to user already, or both budgets (--dm-probe-burst,
 * --dm-probe-per-sec) have a token; false: answer rate_limited. Takes nothing:
 * gw_limits_dm_probe_answer charges a not_found. *confirmed: true when other was found
 * confirmed to user (an answer "exists" would change nothing: the caller may skip it). */
bool gw_limits_dm_probe_allowed(gw_t *gw, const char *user, const char *ip, const char *other,
                                bool *confirmed);
/* The answer user got about other: exists (remembered as confirmed while user has an
 * entry), or not (a token of both budgets; they may go into debt when answers were in
 * flight). */
void gw_limits_dm_probe_answer(gw_t *gw, const char *user, const char *ip, const char *other,
                               bool exists);
/* Slowloris: a request's headers and body together get --http-timeout from the accept
 * (or, on a keep-alive connection, from the previous answer). LWS_CALLBACK_HTTP of a
 * request with a body: lws would give the body a fresh timeout; cut it to what is left.
 * gw_limits_request_restart: an answer was written, the next request's clock starts. */
void gw_limits_body_deadline(gw_t *gw, struct lws *wsi);
void gw_limits_request_restart(struct lws *wsi);
/* WebSocket established: arm the auth deadline (an lws timer on s->wsi). */
void gw_limits_session_start(gw_session_t *s);
/* LWS_CALLBACK_TIMER of s: close it 4401 if still not authenticated. */
void gw_limits_session_timer(gw_session_t *s);

#endif
