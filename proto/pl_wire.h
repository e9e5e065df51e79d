/* pl_wire — socket options and sends of the internal ZeroMQ links (docs/internals.md).
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

/* Send the frames, given as (pointer, length) pairs (count pairs in parts/lens), as one
 * multipart message without blocking. Returns 0, or -1 with errno (EHOSTUNREACH: unknown
 * peer, EAGAIN: high-water mark). Nothing is sent on failure. The messages themselves
 * are pl_msg.h's. */
int pl_wire_send(zsock_t *sock, int count, const void *const *parts, const size_t *lens);

#endif
