/* gw_http_req — one HTTP transaction on the port (http_req.c): what was asked, the answer
 * to write, and its reference count. http.c creates it per request and holds one
 * reference for the connection (pss->r); every async step (router answer, thread pool)
 * holds one more; the last gw_http_req_unref frees it. After the connection closed, wsi
 * is NULL and gw_http_respond drops the answer. The endpoint modules (accounts.c,
 * logout.c, push.c, static.c, limits.c) answer through it, so they need not know http.c.
 * Loop thread only. */
#ifndef GW_HTTP_REQ_H
#define GW_HTTP_REQ_H

#include <uv.h> /* before libwebsockets.h */
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;
typedef struct gw_http_req gw_http_req_t;

struct gw_http_req {
    int refs;
    gw_t *gw;
    struct lws *wsi; /* NULL once the connection closed */
    char path[64];
    bool is_post;
    bool is_delete; /* DELETE (logout.c) */
    bool www_auth;  /* a 401 for a bearer token: add WWW-Authenticate: Bearer */
    char *body;
    size_t body_len;
    bool body_too_big;
    bool chunked;     /* Transfer-Encoding: chunked (no Content-Length) */
    bool close_after; /* close the connection after the answer (framing refused) */
    bool rx_held;     /* reading paused from the end of the request until the answer */
    bool completed;   /* s_body_complete ran (lws may signal a body's end twice) */
    bool expect_body; /* a Content-Length body is still to come */
    /* chunked decoder state (http.c s_unchunk) */
    int ck_state;   /* http.c's CK_ values (0: expecting a size line), -1 after bad framing */
    size_t ck_left; /* bytes left in the current chunk / size being parsed */
    int ck_digits, ck_line;
    size_t ck_raw; /* chunked bytes received, framing included */
    bool ck_ext;   /* inside a chunk extension */
    /* response */
    bool resp_ready, resp_written;
    int status;
    int retry_after; /* a 429's Retry-After in seconds (0: 1) */
    char *resp;
    size_t resp_len;
    /* static.c answers (ctype NULL: a JSON answer, Cache-Control no-store) */
    const char *ctype; /* static, not owned */
    const char *cache; /* Cache-Control value */
    char etag[24];
    bool gzip, vary, html;
};
gw_http_req_t *gw_http_req_ref(gw_http_req_t *r);
void gw_http_req_unref(gw_http_req_t **r_p);
/* Set the response (body is a JSON text, copied) and schedule its write. */
void gw_http_respond(gw_http_req_t *r, int status, const char *body);
/* {"error":code,"message":msg} */
void gw_http_respond_error(gw_http_req_t *r, int status, const char *code, const char *msg);

#endif
