/* gw_http — the HTTP endpoints beside the WebSocket: the lws callback for HTTP, routing to
 * the endpoint modules, GET /v1/health (http.c; the transaction is gw_http_req.h).
 * Loop thread only unless a comment says otherwise. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <uv.h> /* before libwebsockets.h */
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;
typedef struct gw_http_req gw_http_req_t;

int gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);

#endif
