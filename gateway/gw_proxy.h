/* gw_proxy — the PROXY protocol (v1 text, v2 binary) from trusted proxies (proxy.c). Loop thread
 * only unless a comment says otherwise. */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <uv.h> /* before libwebsockets.h */
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;

/* fd was accepted from trusted peer ip on the listener of vhost: take a duplicate of it
 * (the caller then refuses the connection, and lws closes its fd), read a PROXY v1/v2
 * header if one comes first, and adopt the socket into vhost with the header's source as
 * the client address (or ip when there is none). 0 if taken; -1: let lws go on with fd. */
int gw_proxy_accept(gw_t *gw, struct lws_vhost *vhost, int fd, const char *ip);
/* Shutdown: close every socket still waiting for its header. */
void gw_proxy_stop(gw_t *gw);

#endif
