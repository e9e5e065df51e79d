/* gw_requests — client frames on a WebSocket: parse, validate, dispatch (PROTOCOL.md §3)
 * (requests.c). Loop thread only unless a comment says otherwise. */
#ifndef GW_REQUESTS_H
#define GW_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw_session gw_session_t;

/* One complete client message (text or binary). s is alive and not closing. */
void gw_requests_frame(gw_session_t *s, const char *data, size_t len, bool binary);

#endif
