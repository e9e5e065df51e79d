/* pl_wire — see pl_wire.h. */
#include "pl_wire.h"

#include <errno.h>
#include <string.h>

int pl_wire_setup(zsock_t *sock, bool router)
{
    void *h = zsock_resolve(sock);
    int zero = 0, hwm = PL_ZMQ_HWM, one = 1;
    int64_t max = PL_ZMQ_MAXMSG;
    if (zmq_setsockopt(h, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(h, ZMQ_MAXMSGSIZE, &max, sizeof max) ||
        zmq_setsockopt(h, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
        zmq_setsockopt(h, ZMQ_RCVHWM, &hwm, sizeof hwm))
        return -1;
    if (router && zmq_setsockopt(h, ZMQ_ROUTER_MANDATORY, &one, sizeof one))
        return -1;
    return 0;
}

int pl_wire_send(zsock_t *sock, int count, const void *const *parts, const size_t *lens)
{
    void *h = zsock_resolve(sock);
    /* ZeroMQ sends multipart atomically: parts queue locally until the last one, and a
     * failure on the first part (EHOSTUNREACH/EAGAIN) means nothing was queued. Later
     * parts of an accepted message cannot fail with those errors. */
    for (int i = 0; i < count; i++) {
        int flags = ZMQ_DONTWAIT | (i + 1 < count ? ZMQ_SNDMORE : 0);
        if (zmq_send(h, parts[i], lens[i], flags) < 0)
            return -1;
    }
    return 0;
}
