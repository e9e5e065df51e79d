/* req — the gateway's one request-in-flight type (gw_req.h). Loop thread only. */
#include "gw.h"
#include "gw_frames.h"
#include "gw_order.h"
#include "gw_req.h"
#include "gw_ws.h"
#include "gw_zlink.h"
#include "pl_pool.h"

/* Request structs kept for reuse (one calloc and free per request otherwise), loop thread
 * only; at most GW_REQ_POOL_MAX (pl_pool.h), so a burst's memory returns to malloc. */
#define GW_REQ_POOL_MAX 512
static pl_pool_t s_req_pool = PL_POOL_INIT(sizeof(gw_req_t), GW_REQ_POOL_MAX);

void gw_req_pool_free(void)
{
    pl_pool_drain(&s_req_pool);
}

gw_req_t *gw_req_new_ctx(gw_session_t *s, gw_pending_t *p, const char *id_json, size_t ctx_size,
                         void (*ctx_free)(void *ctx))
{
    gw_req_t *r = pl_pool_get(&s_req_pool);
    if (!r)
        return NULL;
    if (id_json) {
        size_t n = strlen(id_json) + 1;
        r->id_json = n <= sizeof r->id_small ? memcpy(r->id_small, id_json, n) : strdup(id_json);
        if (!r->id_json)
            goto fail;
    }
    if (ctx_size && !(r->ctx = calloc(1, ctx_size)))
        goto fail;
    r->ctx_free = ctx_free;
    r->s = gw_session_ref(s);
    r->p = p;
    return r;
fail:
    if (r->id_json != r->id_small)
        free(r->id_json);
    pl_pool_put(&s_req_pool, r);
    return NULL;
}

gw_req_t *gw_req_new(gw_session_t *s, gw_pending_t *p, const char *id_json)
{
    return gw_req_new_ctx(s, p, id_json, 0, NULL);
}

void gw_req_destroy(gw_req_t **r_p)
{
    gw_req_t *r = r_p ? *r_p : NULL;
    if (!r)
        return;
    gw_order_cancel(&r->ticket);
    if (r->ctx && r->ctx_free)
        r->ctx_free(r->ctx);
    free(r->ctx);
    gw_session_unref(&r->s);
    if (r->id_json != r->id_small)
        free(r->id_json);
    free(r->payload);
    pl_pool_put(&s_req_pool, r);
    *r_p = NULL;
}

void gw_req_answer(gw_req_t *r, gw_blob_t *frame)
{
    gw_session_answer(r->s, r->p, frame);
    gw_req_destroy(&r);
}

void gw_req_finish(gw_req_t *r, const char *status, const char *body, size_t len)
{
    gw_blob_t *f;
    if (strcmp(status, "ok") == 0) {
        f = gw_frame_ok_splice(r->id_json, body, len);
        if (!f) {
            pl_warn("malformed ok body from a shard");
            static const char msg[] = "malformed answer from a shard";
            f = gw_frame_error(r->id_json, PL_E_INTERNAL, msg, sizeof msg - 1);
        }
    } else {
        f = gw_frame_error(r->id_json, status, body, len);
    }
    gw_req_answer(r, f);
}

void gw_req_error(gw_req_t *r, const char *code, const char *msg)
{
    gw_req_answer(r, gw_frame_error(r->id_json, code, msg, strlen(msg)));
}

void gw_req_on_answer(void *arg, const char *status, const char *body, size_t len)
{
    gw_req_finish(arg, status, body, len);
}

void gw_req_send(gw_req_t *r)
{
    gw_zlink_request(r->s->gw->zl, r->op, r->key, r->payload, r->payload_len, gw_req_on_answer, r);
}
