/* http — the HTTP side of the port (PROTOCOL.md §2): POST /v1/users, POST /v1/sessions,
 * DELETE /v1/sessions (logout.c), GET /v1/health; the web client's files (static.c) outside
 * /v1/; every other URL gets 404.
 *
 * A transaction is an gw_http_req_t owned by the connection (pss->r) and by whatever async
 * work it waits for (router answer, thread pool). Its answer is written in
 * HTTP_WRITEABLE; if the connection closed first, the answer is dropped. POST bodies are
 * capped at GW_HTTP_BODY_MAX: a longer body is read and discarded, then answered 413. */
#include "gw.h"
#include "gw_accounts.h"
#include "gw_http.h"
#include "gw_http_req.h"
#include "gw_limits.h"
#include "gw_logout.h"
#include "gw_netio.h"
#include "gw_push.h"
#include "gw_static.h"
#include "gw_zlink.h"

#include <ctype.h>
#include <strings.h>

/* ---- health --------------------------------------------------------------------------- */

static void s_health_answer(void *arg, const char *status, const char *body, size_t len)
{
    gw_http_req_t *r = arg;
    if (strcmp(status, "ok") == 0 && len == 1 && body[0] == '1')
        gw_http_respond(r, 200, "{\"ok\":true}");
    else if (strcmp(status, "ok") == 0)
        gw_http_respond_error(r, 503, PL_E_UNAVAILABLE, "a shard is unreachable");
    else
        gw_http_respond_error(r, 503, PL_E_UNAVAILABLE, "the router is unreachable");
    gw_http_req_unref(&r);
}

/* Always asks the router (1 s deadline): the router sends nothing to an idle gateway, so
 * the age of its last message cannot tell a dead router from a quiet one. A router that
 * is down fails at once (ZMQ_IMMEDIATE: the send finds no connection). */
static void s_health(gw_http_req_t *r)
{
    gw_zlink_health(r->gw->zl, s_health_answer, gw_http_req_ref(r));
}

/* ---- routing -------------------------------------------------------------------------- */

static bool s_is_account_path(const char *path)
{
    return strcmp(path, "/v1/users") == 0 || strcmp(path, "/v1/sessions") == 0;
}

static void s_hold(gw_http_req_t *r);

static void s_body_complete(gw_http_req_t *r)
{
    if (r->completed)
        return; /* lws 4.1 may signal a body's end again if it reads on meanwhile */
    r->completed = true;
    s_hold(r);
    if (r->body_too_big) {
        gw_http_respond_error(r, 413, PL_E_TOO_LARGE, "the body is too large");
        return;
    }
    if (s_is_account_path(r->path) && !gw_limits_login_allowed(r)) {
        gw_http_respond_error(r, 429, PL_E_RATE_LIMITED,
                              "too many account requests from this address: retry later");
        return;
    }
    if (r->is_delete) /* s_start admits DELETE for /v1/sessions only */
        gw_logout_http(r);
    else if (strcmp(r->path, "/v1/users") == 0)
        gw_accounts_create_user(r);
    else if (strcmp(r->path, "/v1/sessions") == 0)
        gw_accounts_login(r);
    else
        gw_http_respond_error(r, 404, PL_E_NOT_FOUND, "no such endpoint");
}

/* Transfer-Encoding, as RFC 9112 §6.1 lists it (duplicate headers arrive joined by ','
 * from lws): 1 for exactly "chunked" (any case, empty list elements ignored), 0 for no
 * header, -400 for a malformed list (no coding, chunked twice), -501 for any other coding
 * (we implement only chunked). */
static int s_transfer_encoding(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0)
        return 0;
    char te[256];
    if (lws_hdr_copy(wsi, te, sizeof te, WSI_TOKEN_HTTP_TRANSFER_ENCODING) < 0)
        return -501; /* longer than any list of codings we know */
    int chunked = 0;
    for (char *p = te; *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        char *e = p;
        while (*e && *e != ',')
            e++;
        char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if (t > p) {
            if (t - p != 7 || strncasecmp(p, "chunked", 7) != 0)
                return -501;
            chunked++;
        }
        p = e;
    }
    return chunked == 1 ? 1 : -400;
}

/* Content-Length: its value (>= 0), -1 when absent, -2 when not one decimal number
 * (a list, as duplicates come joined by ',', signs, spaces inside). */
static long long s_content_length(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return -1;
    char cl[24];
    if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
        return -2;
    size_t n = strlen(cl);
    while (n && (cl[n - 1] == ' ' || cl[n - 1] == '\t'))
        cl[--n] = 0;
    if (!n || n > 18 || strspn(cl, "0123456789") != n)
        return -2;
    return strtoll(cl, NULL, 10);
}

/* An answer after which the connection is closed: the request's framing is unknown or
 * ambiguous, so the bytes after its header cannot be told apart from a next request
 * (RFC 9112 §6.3: a recipient must then close). */
static void s_refuse_framing(gw_http_req_t *r, int status, const char *msg)
{
    r->close_after = true;
    gw_http_respond_error(r, status, PL_E_BAD_REQUEST, msg);
}

/* New transaction: decide what to do from method, path and the body's framing
 * (Transfer-Encoding and Content-Length, RFC 9112 §6). */
static int s_start(struct lws *wsi, struct gw_pss *pss, gw_t *gw)
{
    gw_http_req_t *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->refs = 1;
    r->gw = gw;
    r->wsi = wsi;
    pss->r = r;

    /* Framing first, whatever the method: lws 4.1 reads a body by Content-Length and
     * knows nothing of Transfer-Encoding, so a request it frames differently from a proxy
     * in front of us must end the connection (request smuggling). */
    int te = s_transfer_encoding(wsi);
    long long n = s_content_length(wsi);
    if (te == -501) {
        s_refuse_framing(r, 501, "unsupported Transfer-Encoding: only chunked is implemented");
        return 0;
    }
    if (te == -400) {
        s_refuse_framing(r, 400, "malformed Transfer-Encoding");
        return 0;
    }
    if (te && n != -1) {
        s_refuse_framing(r, 400, "Transfer-Encoding and Content-Length together");
        return 0;
    }
    if (n == -2) {
        s_refuse_framing(r, 400, "malformed Content-Length");
        return 0;
    }

    enum lws_token_indexes tok;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
        tok = WSI_TOKEN_POST_URI;
        r->is_post = true;
    } else if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) {
        tok = WSI_TOKEN_GET_URI;
    } else if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0) {
        tok = WSI_TOKEN_DELETE_URI;
        r->is_delete = true;
    } else {
        gw_http_respond_error(r, 405, PL_E_BAD_REQUEST, "method not allowed");
        return 0;
    }
    if (lws_hdr_copy(wsi, r->path, sizeof r->path, tok) < 0)
        r->path[0] = 0; /* too long: no such endpoint */
    pl_debug("HTTP %s %s", r->is_post ? "POST" : r->is_delete ? "DELETE" : "GET", r->path);

    if (!r->is_post && !r->is_delete && (te || n > 0)) {
        /* lws reads no body for a GET: its bytes would be taken for the next request */
        s_refuse_framing(r, 400, "a GET request has no body");
        return 0;
    }
    if (r->is_delete) {
        if (strcmp(r->path, "/v1/sessions") != 0) {
            if (te || n > 0) /* its body is not read: the connection cannot go on */
                s_refuse_framing(r, 405, "method not allowed");
            else
                gw_http_respond_error(r, 405, PL_E_BAD_REQUEST, "method not allowed");
            return 0;
        }
        /* a body, if any, is read (netio framing below) and ignored, then s_body_complete */
    } else if (!r->is_post) {
        if (strcmp(r->path, "/v1/health") == 0)
            s_health(r);
        else if (strcmp(r->path, "/v1/push/vapid") == 0)
            gw_push_vapid_http(r);
        else if (s_is_account_path(r->path))
            gw_http_respond_error(r, 405, PL_E_BAD_REQUEST, "use POST");
        else if (!gw_static_serve(r))
            gw_http_respond_error(r, 404, PL_E_NOT_FOUND, "no such endpoint");
        return 0;
    }
    if (te) {
        /* lws 4.1 passes the chunked body raw through HTTP_BODY (expecting up to 100 MiB)
         * and never ends it: s_unchunk undoes the framing and completes the request; the
         * size cap is applied there. netio stops lws reading past the last chunk, so a
         * request pipelined after it is parsed by lws as the next one. */
        r->chunked = true;
        gw_netio_http_chunked(lws_get_socket_fd(wsi));
        return 0;
    }
    if (n <= 0) {
        /* no body will come: answer now */
        if (r->is_delete)
            s_body_complete(r);
        else if (s_is_account_path(r->path))
            gw_http_respond_error(r, 400, PL_E_BAD_REQUEST,
                                  "a JSON body with Content-Length is required");
        else
            gw_http_respond_error(r, 404, PL_E_NOT_FOUND, "no such endpoint");
        return 0;
    }
    r->body_too_big = n > GW_HTTP_BODY_MAX; /* then read and discarded */
    r->expect_body = true;
    gw_netio_http_body(lws_get_socket_fd(wsi), (uint64_t)n);
    return 0;
}

/* The web client's pages may load only our own scripts, styles and images, and connect
 * only back to us: message text can never become script (docs/internals.md). */
#define GW_CSP                                                                                     \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self' ws: wss:; manifest-src 'self'; worker-src 'self'; object-src 'none'; "     \
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

static int s_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                    unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/* The request is whole: lws must read nothing more of the connection until its answer is
 * written (netio holds the socket; pausing rx spares the loop the POLLIN meanwhile). */
static void s_hold(gw_http_req_t *r)
{
    if (r->resp_ready || r->rx_held || !r->wsi)
        return;
    r->rx_held = true;
    lws_rx_flow_control(r->wsi, 0);
}

/* Retry-After of a 429 (PROTOCOL.md §2): r->retry_after seconds, at least 1. */
static int s_retry_after(struct lws *wsi, gw_http_req_t *r, unsigned char **p, unsigned char *end)
{
    char v[16];
    int n = snprintf(v, sizeof v, "%d", r->retry_after > 0 ? r->retry_after : 1);
    return lws_add_http_header_by_name(
        wsi, (const unsigned char *)"retry-after:", (const unsigned char *)v, n, p, end);
}

static int s_write(struct lws *wsi, gw_http_req_t *r)
{
    unsigned char hdr[LWS_PRE + 1536], *start = hdr + LWS_PRE, *p = start,
                                       *end = hdr + sizeof hdr - 1;
    const char *ctype = r->ctype ? r->ctype : "application/json";
    const char *cache = r->ctype && r->cache ? r->cache : "no-store";
    /* 204 has neither body nor Content-Length (RFC 9110 §8.6, §15.3.5) */
    bool empty = r->status == 204;
    if ((empty ? lws_add_http_header_status(wsi, 204, &p, end)
               : lws_add_http_common_headers(wsi, (unsigned int)r->status, ctype, r->resp_len, &p,
                                             end)) ||
        s_header(wsi, "cache-control:", cache, &p, end) ||
        (r->www_auth && r->status == 401 &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_WWW_AUTHENTICATE,
                                      (const unsigned char *)"Bearer", 6, &p, end)) ||
        (r->close_after &&
         lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                      &p, end)) ||
        (r->status == 429 && s_retry_after(wsi, r, &p, end)))
        return -1;
    if (r->ctype) {
        if ((r->etag[0] && s_header(wsi, "etag:", r->etag, &p, end)) ||
            (r->vary && s_header(wsi, "vary:", "Accept-Encoding", &p, end)) ||
            (r->gzip && s_header(wsi, "content-encoding:", "gzip", &p, end)) ||
            s_header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
            (r->html && s_header(wsi, "content-security-policy:", GW_CSP, &p, end)))
            return -1;
    }
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    r->resp_written = true;
    if (!empty && r->resp_len &&
        lws_write(wsi, (unsigned char *)r->resp + LWS_PRE, r->resp_len, LWS_WRITE_HTTP_FINAL) < 0)
        return -1;
    gw_limits_request_restart(wsi);
    pl_debug("HTTP %s -> %d", r->path, r->status);
    return 0;
}

static void s_release(struct gw_pss *pss)
{
    /* pss is NULL for a connection closed before lws read a request (idle timeout) */
    if (pss && pss->r) {
        pss->r->wsi = NULL;
        gw_http_req_unref(&pss->r);
    }
}

enum { CK_SIZE = 0, CK_DATA, CK_DATA_END, CK_TRAILER, CK_DONE };

/* Append body bytes, applying the size cap (then the body is dropped and only its end
 * awaited). */
static int s_body_append(gw_http_req_t *r, const char *in, size_t len)
{
    /* len 0 comes with in == NULL (an empty body callback): memcpy(NULL) is undefined */
    if (!len || r->body_too_big || r->is_delete || !s_is_account_path(r->path))
        return 0;
    if (r->body_len + len > GW_HTTP_BODY_MAX) {
        r->body_too_big = true;
        free(r->body);
        r->body = NULL;
        r->body_len = 0;
        return 0;
    }
    char *nb = realloc(r->body, r->body_len + len + 1);
    if (!nb)
        return -1;
    memcpy(nb + r->body_len, in, len);
    r->body = nb;
    r->body_len += len;
    r->body[r->body_len] = 0;
    return 0;
}

/* Incremental decoder of chunked transfer coding (RFC 9112 §7.1): size line (hex, chunk
 * extensions ignored), data, CRLF; a zero-size chunk, optional trailer lines, CRLF.
 * Returns 1 when the body is complete, 0 for more, -1 on malformed framing, 2 for bytes
 * after completion or failure (ignored). */
static int s_unchunk(gw_http_req_t *r, const char *in, size_t len)
{
    if (r->ck_state < 0 || r->ck_state == CK_DONE)
        return 2; /* already answered or complete: ignore the rest */
    r->ck_raw += len;
    if (r->ck_raw > GW_HTTP_CHUNKED_MAX)
        return r->ck_state = -1; /* lws's own body count must never run out (netio.c) */
    for (size_t i = 0; i < len && r->ck_state >= 0 && r->ck_state != CK_DONE;) {
        char c = in[i];
        switch (r->ck_state) {
        case CK_SIZE: /* hex size, then ";ext" or whitespace ignored, CRLF */
            i++;
            if (c == '\n') {
                if (!r->ck_digits)
                    return r->ck_state = -1;
                r->ck_state = r->ck_left ? CK_DATA : CK_TRAILER;
                r->ck_digits = 0;
                r->ck_line = 0;
                r->ck_ext = false;
            } else if (c == '\r' || r->ck_ext) {
                /* skipped */
            } else if (isxdigit((unsigned char)c)) {
                if (r->ck_left > ((size_t)1 << 24))
                    return r->ck_state = -1; /* absurd chunk size */
                r->ck_left = r->ck_left * 16 +
                             (size_t)(isdigit((unsigned char)c) ? c - '0' : tolower(c) - 'a' + 10);
                r->ck_digits++;
            } else if (c == ';' || c == ' ' || c == '\t') {
                r->ck_ext = true;
            } else {
                return r->ck_state = -1;
            }
            break;
        case CK_DATA: {
            size_t n = len - i < r->ck_left ? len - i : r->ck_left;
            if (s_body_append(r, in + i, n) < 0)
                return r->ck_state = -1;
            i += n;
            r->ck_left -= n;
            if (!r->ck_left)
                r->ck_state = CK_DATA_END;
            break;
        }
        case CK_DATA_END: /* CRLF after the data */
            i++;
            if (c == '\n')
                r->ck_state = CK_SIZE;
            else if (c != '\r')
                return r->ck_state = -1;
            break;
        case CK_TRAILER: /* lines until an empty one */
            i++;
            if (c == '\n') {
                if (!r->ck_line)
                    r->ck_state = CK_DONE;
                r->ck_line = 0;
            } else if (c != '\r') {
                r->ck_line++;
            }
            break;
        }
    }
    return r->ck_state < 0 ? -1 : r->ck_state == CK_DONE;
}

int gw_http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len)
{
    struct gw_pss *pss = user;
    gw_t *gw = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
        /* lws 4.1 (built with HTTP/2) would switch a plain connection to HTTP/2 on
         * `Upgrade: h2c`, past every check of ours: only WebSocket upgrades proceed
         * (docs/reliability.md "libwebsockets 4.1.6").
         * `in` is never read: CVE-2025-11677 (lws 2f082ec31) — for an unknown upgrade
         * lws 4.1.6 answers 403 and completes the transaction, which on a keep-alive
         * connection frees (or resets) the header table, and then still calls us with
         * `in` pointing into it. The header table is the truth: lws only calls us when it
         * held an Upgrade header, so finding none means it is gone; refuse (-1: lws
         * closes the connection after its 403). */
        (void)in;
        char up[16];
        int n = lws_hdr_copy(wsi, up, sizeof up, WSI_TOKEN_UPGRADE);
        if (n > 0 && strcasecmp(up, "websocket") == 0)
            return 0;
        pl_info("HTTP upgrade to %s refused", n > 0   ? up
                                              : n < 0 ? "(a long token)"
                                                      : "(header table gone)");
        return -1;
    }

    case LWS_CALLBACK_HTTP: {
        s_release(pss); /* a previous keep-alive transaction */
        if (gw->stopping)
            return -1;
        int rc = s_start(wsi, pss, gw);
        if (rc == 0 && pss->r && !pss->r->chunked && !pss->r->expect_body)
            s_hold(pss->r); /* no body: the request is whole */
        else if (rc == 0 && pss->r)
            gw_limits_body_deadline(gw, wsi); /* slowloris: headers + body in --http-timeout */
        return rc;
    }

    case LWS_CALLBACK_HTTP_BODY: {
        gw_http_req_t *r = pss->r;
        if (r)
            gw_limits_body_deadline(gw, wsi); /* lws re-arms its own timeout on body bytes */
        if (r && r->chunked) {
            /* lws 4.1 hands a chunked request body over raw and never signals its end:
             * undo the framing here and complete the request after the last chunk. */
            int st = s_unchunk(r, in, len);
            if (st < 0) {
                s_refuse_framing(r, 400, "malformed chunked body");
                return 0;
            }
            if (st == 1) /* netio ended this read at the last chunk */
                s_body_complete(r);
            return 0;
        }
        if (!r)
            return 0;
        return s_body_append(r, in, len);
    }

    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        if (!pss->r)
            return -1;
        if (pss->r->chunked)
            return 0; /* lws's own count, meaningless here (s_unchunk ends the body) */
        s_body_complete(pss->r);
        return 0;

    case LWS_CALLBACK_HTTP_WRITEABLE: {
        gw_http_req_t *r = pss->r;
        if (!r || !r->resp_ready || r->resp_written)
            return 0;
        if (s_write(wsi, r) != 0)
            return -1;
        if (r->close_after) {
            pl_debug("HTTP %s: connection closed after %d", r->path, r->status);
            return -1; /* a partly written answer is flushed by lws before the close */
        }
        gw_netio_http_release(lws_get_socket_fd(wsi));
        s_release(pss);
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }

    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        s_release(pss);
        return 0;

    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}
