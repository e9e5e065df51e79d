/* gw_netio — framing checks below lws (it defines recv(); docs/internals.md) (netio.c). Loop thread
 * only unless a comment says otherwise. */
#ifndef GW_NETIO_H
#define GW_NETIO_H

#include <uv.h> /* before libwebsockets.h */
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called from inside lws's read of a WebSocket, on the loop thread, at its first unmasked
 * client frame; nothing of that frame or after it reaches lws. */
typedef void(gw_netio_bad_fn)(void *arg);
/* Size the descriptor table, note the loop thread. Before gw_zlink_new (libzmq's threads);
 * gw_netio_fini after gw_zlink_destroy. 0 or -1 (out of memory). */
int gw_netio_init(void);
void gw_netio_fini(void);
/* A connection lws accepted: HTTP mode (reads end at the end of a header block). */
void gw_netio_http_start(int fd);
/* How the body of the request whose headers lws just parsed is framed (LWS_CALLBACK_HTTP):
 * chunked, or len bytes (Content-Length; 0 or not called: no body). Reads end at its end;
 * the socket is then held (EAGAIN) until gw_netio_http_release (the answer is written). */
void gw_netio_http_chunked(int fd);
void gw_netio_http_body(int fd, uint64_t len);
void gw_netio_http_release(int fd);
/* The connection became a WebSocket (ESTABLISHED): check client frames for the mask bit;
 * bad(arg) at the first unmasked one. */
void gw_netio_ws_start(int fd, gw_netio_bad_fn *bad, void *arg);
/* The connection is closing (CLOSED, WSI_DESTROY): plain reads, no callback. */
void gw_netio_forget(int fd);

#endif
