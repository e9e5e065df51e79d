/* pl_wire — see pl_wire.h. */
#include "pl_wire.h"

#include <errno.h>
#include <stdarg.h>
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

int pl_wire_sendv(zsock_t *sock, const char *first, ...)
{
    const void *parts[16];
    size_t lens[16];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        if (n == 16) {
            va_end(ap);
            errno = EINVAL;
            return -1;
        }
        parts[n] = s;
        lens[n] = strlen(s);
        n++;
    }
    va_end(ap);
    return pl_wire_send(sock, n, parts, lens);
}

char *pl_wire_strdup(zmsg_t *msg, int i)
{
    if (!msg || i < 0)
        return NULL;
    zframe_t *f = zmsg_first(msg);
    for (int k = 0; f && k < i; k++)
        f = zmsg_next(msg);
    if (!f)
        return NULL;
    return zframe_strdup(f);
}
