/* http_req — one HTTP transaction: its request, its answer, its reference count
 * (gw_http_req.h). Loop thread only. */
#include "gw.h"
#include "gw_frames.h"
#include "gw_http_req.h"

gw_http_req_t *gw_http_req_ref(gw_http_req_t *r)
{
    if (r)
        r->refs++;
    return r;
}

void gw_http_req_unref(gw_http_req_t **r_p)
{
    if (!r_p || !*r_p)
        return;
    gw_http_req_t *r = *r_p;
    *r_p = NULL;
    if (--r->refs > 0)
        return;
    free(r->body);
    free(r->resp);
    free(r);
}

void gw_http_respond(gw_http_req_t *r, int status, const char *body)
{
    if (!r->wsi || r->resp_ready)
        return;
    size_t len = strlen(body);
    r->resp = malloc(LWS_PRE + len + 1);
    if (!r->resp) {
        lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        return;
    }
    memcpy(r->resp + LWS_PRE, body, len + 1);
    r->resp_len = len;
    r->status = status;
    r->resp_ready = true;
    if (r->rx_held) {
        /* lws 4.1 on libuv serves no WRITEABLE while rx is paused (checked): resume; netio
         * keeps the next request in the kernel until the answer is written */
        r->rx_held = false;
        lws_rx_flow_control(r->wsi, 1);
    }
    lws_callback_on_writable(r->wsi);
}

void gw_http_respond_error(gw_http_req_t *r, int status, const char *code, const char *msg)
{
    json_t *o = json_pack("{s:s,s:s}", "error", code, "message", msg);
    char *t = o ? gw_json_text(o, NULL) : NULL;
    json_decref(o);
    if (t)
        gw_http_respond(r, status, t);
    else
        gw_http_respond(r, 500, "{\"error\":\"internal\",\"message\":\"out of memory\"}");
    free(t);
}
