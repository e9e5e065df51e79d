/* pl_wire — helpers for the internal ZeroMQ protocol (docs/internals.md).
 * Thread: the thread that owns the socket. */
#ifndef PL_WIRE_H
#define PL_WIRE_H
#include <czmq.h>
#include <stdbool.h>

/* Largest ZeroMQ message part any role accepts (ZMQ_MAXMSGSIZE). */
#define PL_ZMQ_MAXMSG (64 * 1024 * 1024)
/* Send high-water mark on every socket. */
#define PL_ZMQ_HWM 100000

/* Apply the common options: LINGER 0, MAXMSGSIZE, SNDHWM/RCVHWM; for ROUTER sockets also
 * ROUTER_MANDATORY (a send to an unknown peer fails with EHOSTUNREACH instead of being
 * dropped silently). Returns 0 or -1. */
int pl_wire_setup(zsock_t *sock, bool router);

/* Send the frames (each a NUL-terminated string, last argument NULL) as one multipart
 * message without blocking. Returns 0, or -1 with errno (EHOSTUNREACH: unknown peer,
 * EAGAIN: high-water mark). Nothing is sent on failure. */
int pl_wire_sendv(zsock_t *sock, const char *first, ...) __attribute__((sentinel));
/* Same, frames as (pointer, length) pairs: count pairs in parts/lens. */
int pl_wire_send(zsock_t *sock, int count, const void *const *parts, const size_t *lens);

/* Frame i of msg as a freshly allocated NUL-terminated string (frames may contain NUL:
 * use zframe_size for binary). NULL when there is no frame i. Caller frees. */
char *pl_wire_strdup(zmsg_t *msg, int i);

#endif
