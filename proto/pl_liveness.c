/* pl_liveness — see pl_liveness.h. */
#include "pl_liveness.h"

#include "pl_log.h"

void pl_liveness_start(pl_liveness_t *l, int64_t now)
{
    *l = (pl_liveness_t){.last_rx = now};
}

void pl_liveness_heard(pl_liveness_t *l, int64_t now)
{
    l->last_rx = now;
    if (l->silent_logged) {
        l->silent_logged = false;
        pl_info("the router answers again");
    }
}

bool pl_liveness_silent(pl_liveness_t *l, int64_t now, bool input_waiting)
{
    if (input_waiting)
        l->last_rx = now;
    if (now - l->last_rx <= PL_ROUTER_SILENT_MS)
        return false;
    if (!l->silent_logged)
        pl_warn("no message from the router for %lld ms: reconnecting",
                (long long)(now - l->last_rx));
    else
        pl_debug("router still silent: reconnecting");
    l->silent_logged = true;
    l->last_rx = now;
    return true;
}
