/* ws — WebSocket sessions on /v1/ws (PROTOCOL.md §1, §3).
 *
 * Input: lws hands a message in chunks; we reassemble up to PL_FRAME_MAX (1 MiB) and act
 * on whole messages only (lws validates UTF-8 of text frames and closes with 1007 itself,
 * possibly after earlier chunks were delivered). A message larger than that gets error
 * too_large, then close 1009, as soon as the header of the frame that makes it too large
 * arrives (its declared length is known then; the payload is not awaited).
 *
 * Output: answers go through the pending FIFO so they leave in request order; completed
 * entries at its head move to the out queue. Events go straight to the out queue. One
 * fragment (at most GW_WS_FRAG bytes) is written per SERVER_WRITEABLE; a frame longer
 * than that is sent as a fragmented message (ooff is the in-flight position).
 *
 * Backpressure: rx pauses (lws_rx_flow_control) while auth is in flight, while
 * GW_MAX_PENDING requests are unanswered or GW_OUT_PAUSE bytes wait to be written, and
 * while the socket is over its byte budget (budget.c: queued + waiting answers + the
 * worst case of requests in flight); a frame that arrives then is held (deferred list) and
 * dispatched once answers drain. A session whose queued events pass --event-queue-kib
 * while nothing could be written to it for GW_STALL_MS is closed 1008 (s_close_slow); one
 * whose queue passes GW_OUT_CULL_* is dropped as a slow reader; when the whole gateway passes
 * --mem-budget the biggest sessions are dropped (gw_budget_enforce). */
#include "gw.h"
#include "gw_budget.h"
#include "gw_frames.h"
#include "gw_netio.h"
#include "gw_order.h"
#include "gw_requests.h"
#include "gw_ws.h"
#include "pl_turn.h"
#include "pl_pool.h"
#include <strings.h>

#define GW_WS_FRAG (256 * 1024)
#define GW_RX_KEEP (64 * 1024) /* keep an rx buffer up to this size between messages */
/* lws 4.1 keeps LWS_WRITE_CLOSE out of the public enum ("handled by lws_close_reason"),
 * but the enum is ABI and its value 4 sits between LWS_WRITE_HTTP (3) and _PING (5). */
#define GW_LWS_WRITE_CLOSE ((enum lws_write_protocol)4)

struct gw_outq_item {
    struct gw_outq_item *next;
    gw_blob_t *blob;
    bool event; /* a pushed event (counted in ebytes), not an answer */
};

struct gw_deferred {
    struct gw_deferred *next;
    bool binary;
    size_t len;
    char data[];
};

/* One fragment at a time, so one scratch buffer (loop thread only) serves every socket. */
static unsigned char s_scratch[LWS_PRE + GW_WS_FRAG];

/* Free lists of out-queue entries and answer-FIFO entries (two of each per DM message: a
 * calloc and a free each otherwise), loop thread only. At most GW_WS_POOL_MAX of each are
 * kept (pl_pool.h); gw_ws_pools_free releases them at exit. */
#define GW_WS_POOL_MAX 1024
static pl_pool_t s_oq_pool = PL_POOL_INIT(sizeof(gw_outq_item_t), GW_WS_POOL_MAX);
static pl_pool_t s_pend_pool = PL_POOL_INIT(sizeof(gw_pending_t), GW_WS_POOL_MAX);

void gw_ws_pools_free(void)
{
    pl_pool_drain(&s_oq_pool);
    pl_pool_drain(&s_pend_pool);
}

gw_session_t *gw_session_ref(gw_session_t *s)
{
    if (s)
        s->refs++;
    return s;
}

static void s_release(gw_session_t *s);

static void s_free(gw_session_t *s)
{
    int left = gw_order_session_free(s);
    if (left) /* cannot happen: every waiting request holds a reference */
        pl_warn("session %llu freed with %d requests waiting to go", (unsigned long long)s->sid,
                left);
    s_release(s); /* done at close already: here only for safety */
    while (s->phead) {
        gw_pending_t *p = s->phead;
        gw_budget_release(s, p);
        s->phead = p->next;
        gw_blob_unref(&p->frame);
        pl_pool_put(&s_pend_pool, p);
    }
    while (s->ohead) {
        gw_outq_item_t *it = s->ohead;
        s->ohead = it->next;
        gw_blob_unref(&it->blob);
        pl_pool_put(&s_oq_pool, it);
    }
    while (s->dhead) {
        gw_deferred_t *d = s->dhead;
        s->dhead = d->next;
        free(d);
    }
    free(s->rx);
    free(s);
}

/* Closed: free what it held for writing now, not when the last operation lets go. The
 * pending entries stay (operations still point at them); their frames go. */
static void s_release(gw_session_t *s)
{
    while (s->ohead) {
        gw_outq_item_t *it = s->ohead;
        s->ohead = it->next;
        gw_budget_out_del(s, it->blob);
        gw_blob_unref(&it->blob);
        pl_pool_put(&s_oq_pool, it);
    }
    s->otail = NULL;
    s->ooff = 0;
    s->ocount = 0;
    s->ebytes = 0;
    for (gw_pending_t *p = s->phead; p; p = p->next)
        if (p->frame) {
            s->pbytes -= p->frame->len;
            gw_budget_held(s, 0, p->frame->len);
            gw_blob_unref(&p->frame);
        }
    while (s->dhead) {
        gw_deferred_t *d = s->dhead;
        s->dhead = d->next;
        gw_budget_held(s, 0, d->len);
        free(d);
    }
    s->dtail = NULL;
    s->ndeferred = 0;
}

void gw_session_unref(gw_session_t **s_p)
{
    if (!s_p || !*s_p)
        return;
    gw_session_t *s = *s_p;
    *s_p = NULL;
    if (--s->refs == 0)
        s_free(s);
}

/* Frames must wait (deferred list) rather than be dispatched now. */
static bool s_must_hold(const gw_session_t *s)
{
    return s->state == SS_AUTHING || (s->state == SS_AUTHED && (s->dhead || !gw_budget_admit(s)));
}

/* Pause or resume rx to match the session's state. */
static void s_rx_update(gw_session_t *s)
{
    if (!s->wsi)
        return;
    bool pause = s_must_hold(s) || s->npending >= GW_MAX_PENDING || s->obytes > GW_OUT_PAUSE;
    if (pause == s->rx_paused)
        return;
    s->rx_paused = pause;
    lws_rx_flow_control(s->wsi, pause ? 0 : 1);
}

static void s_kill(gw_session_t *s, const char *why)
{
    pl_warn("session %llu (%s/%s): %s, dropped", (unsigned long long)s->sid, s->user, s->device,
            why);
    s->state = SS_CLOSING;
    s->killed = true;
    s->close_code = 0;
    s_release(s); /* nothing more is written: its memory goes now */
    lws_close_reason(s->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, NULL, 0);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

/* A reader whose queued events passed --event-queue-kib: its queued events that have not
 * started go now (a partly written frame stays, the stream must stay whole), then the
 * close frame 1008 follows what is left; a peer that still does not read is dropped
 * 5 s later (lws's close timeout). No more events are queued (state SS_CLOSING). */
static void s_close_slow(gw_session_t *s)
{
    pl_warn("session %llu (%s/%s): slow reader: its queued events passed --event-queue-kib, "
            "closing 1008",
            (unsigned long long)s->sid, s->user, s->device);
    gw_outq_item_t **pp = &s->ohead;
    s->otail = NULL;
    while (*pp) {
        gw_outq_item_t *it = *pp;
        if (it->event && !(it == s->ohead && s->ooff > 0)) {
            *pp = it->next;
            s->ocount--;
            s->ebytes -= it->blob->len;
            gw_budget_out_del(s, it->blob);
            gw_blob_unref(&it->blob);
            pl_pool_put(&s_oq_pool, it);
            continue;
        }
        s->otail = it;
        pp = &it->next;
    }
    s->close_force = true; /* answers still due do not hold the close */
    gw_session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION);
    lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, 5);
}

/* s has frames to write: at the end of this turn (gw_ws_flush_start). */
static void s_want_write(gw_session_t *s)
{
    gw_t *gw = s->gw;
    if (s->flushq)
        return;
    if (gw->stopping) {
        lws_callback_on_writable(s->wsi);
        return;
    }
    s->flushq = true;
    s->fnext = gw->flush_head;
    gw->flush_head = gw_session_ref(s);
}

void gw_session_ping(gw_session_t *s)
{
    if (!s->wsi)
        return;
    s->ping_due = true;
    s_want_write(s);
}

/* Append b (takes ownership) to the out queue and ask for a write. */
static void s_enqueue(gw_session_t *s, gw_blob_t *b, bool event)
{
    if (!s->wsi || !b) {
        gw_blob_unref(&b);
        return;
    }
    if (s->close_sent || (s->state == SS_CLOSING && !s->close_code)) {
        gw_blob_unref(&b); /* being killed, or the close frame is out: nothing may follow */
        return;
    }
    if (s->obytes + b->len > GW_OUT_CULL_BYTES || s->ocount >= GW_OUT_CULL_COUNT) {
        gw_blob_unref(&b);
        s_kill(s, "too slow a reader");
        return;
    }
    /* a device that stops reading while events keep coming (--event-queue-kib): closed
     * 1008, it catches up with sync when it comes back (nothing is lost: events are
     * copies of stored messages) */
    size_t eq = s->gw->cfg.event_queue;
    uint64_t now = uv_now(&s->gw->loop);
    if (!s->ohead)
        s->progress_at = now; /* the stall clock starts with a non-empty queue */
    if (event && eq && s->ebytes + b->len > eq && now - s->progress_at >= GW_STALL_MS) {
        gw_blob_unref(&b);
        s_close_slow(s);
        return;
    }
    gw_outq_item_t *it = pl_pool_get(&s_oq_pool);
    if (!it) {
        gw_blob_unref(&b);
        s_kill(s, "out of memory");
        return;
    }
    it->blob = b;
    it->event = event;
    if (event)
        s->ebytes += b->len;
    if (s->otail)
        s->otail->next = it;
    else
        s->ohead = it;
    s->otail = it;
    s->ocount++;
    gw_budget_out_add(s, b);
    s_want_write(s);
    gw_budget_enforce(s->gw);
}

void gw_session_kill(gw_session_t *s, const char *why)
{
    if (s->wsi)
        s_kill(s, why);
}

/* Dispatch held frames while the session may (auth over, under its byte budget). Never
 * nested inside a dispatch of the same session. */
static void s_replay(gw_session_t *s)
{
    if (s->in_dispatch)
        return;
    s->in_dispatch = true;
    while (s->wsi && s->dhead && s->state != SS_AUTHING && s->state != SS_CLOSING &&
           (s->state != SS_AUTHED || gw_budget_admit(s))) {
        gw_deferred_t *d = s->dhead;
        s->dhead = d->next;
        if (!s->dhead)
            s->dtail = NULL;
        s->ndeferred--;
        gw_budget_held(s, 0, d->len);
        gw_requests_frame(s, d->data, d->len, d->binary);
        free(d);
    }
    s->in_dispatch = false;
    s_rx_update(s);
}

void gw_session_push_event(gw_session_t *s, gw_blob_t *b)
{
    if (s->state != SS_AUTHED)
        return;
    s_enqueue(s, gw_blob_ref(b), true);
    s_rx_update(s);
}

gw_pending_t *gw_session_pending_push(gw_session_t *s)
{
    gw_pending_t *p = pl_pool_get(&s_pend_pool);
    if (!p)
        return NULL;
    if (s->ptail)
        s->ptail->next = p;
    else
        s->phead = p;
    s->ptail = p;
    s->npending++;
    return p;
}

static void s_answer(gw_session_t *s, gw_pending_t *p, gw_blob_t *frame);

void gw_session_answer(gw_session_t *s, gw_pending_t *p, gw_blob_t *frame)
{
    if (!frame) {
        static const char msg[] = "internal error";
        frame = gw_frame_error(NULL, PL_E_INTERNAL, msg, sizeof msg - 1);
    }
    s_answer(s, p, frame);
}

void gw_session_pass(gw_session_t *s, gw_pending_t *p)
{
    s_answer(s, p, NULL);
}

/* p is done with frame (NULL: nothing to write); write every done entry at the head. */
static void s_answer(gw_session_t *s, gw_pending_t *p, gw_blob_t *frame)
{
    p->done = true;
    gw_budget_release(s, p);
    if (!s->wsi || s->killed) {
        gw_blob_unref(&frame); /* nobody reads it; the entry goes with the session */
        return;
    }
    p->frame = frame;
    if (frame) {
        s->pbytes += frame->len;
        gw_budget_held(s, frame->len, 0);
    }
    while (s->phead && s->phead->done) {
        gw_pending_t *h = s->phead;
        s->phead = h->next;
        if (!s->phead)
            s->ptail = NULL;
        s->npending--;
        if (h->frame) {
            s->pbytes -= h->frame->len;
            gw_budget_held(s, 0, h->frame->len);
        }
        if (h->frame)
            s_enqueue(s, h->frame, false);
        h->frame = NULL;
        pl_pool_put(&s_pend_pool, h);
    }
    gw_budget_enforce(s->gw);
    s_replay(s);
}

void gw_session_drop_conv(gw_session_t *s, const char *conv, size_t conv_len)
{
    gw_outq_item_t **pp = &s->ohead, *prev = NULL;
    int dropped = 0;
    while (*pp) {
        gw_outq_item_t *it = *pp;
        gw_blob_t *b = it->blob;
        bool started = it == s->ohead && s->ooff > 0;
        /* member events stay: the contract sends them to the affected user too, and an
         * "added" still queued must reach it before the "removed" that follows */
        static const char member[] = "{\"type\":\"member\",";
        bool is_member =
            b->len >= sizeof member - 1 && memcmp(b->data, member, sizeof member - 1) == 0;
        if (!started && !is_member && b->conv_len == conv_len &&
            memcmp(b->data + b->conv_off, conv, conv_len) == 0) {
            *pp = it->next;
            s->ocount--;
            if (it->event)
                s->ebytes -= b->len;
            gw_budget_out_del(s, b);
            gw_blob_unref(&it->blob);
            pl_pool_put(&s_oq_pool, it);
            dropped++;
            continue;
        }
        prev = it;
        pp = &it->next;
    }
    s->otail = prev;
    if (dropped)
        pl_debug("session %llu: %d queued frames of %.*s dropped", (unsigned long long)s->sid,
                 dropped, (int)conv_len, conv);
    s_rx_update(s);
}

void gw_session_close(gw_session_t *s, int code)
{
    if (!s->wsi || s->state == SS_CLOSING)
        return;
    s->state = SS_CLOSING;
    s->close_code = code;
    lws_callback_on_writable(s->wsi);
}

void gw_session_auth_finished(gw_session_t *s)
{
    s_replay(s);
}

/* A whole message arrived. */
static void s_message(gw_session_t *s, const char *data, size_t len, bool binary)
{
    if (s->state == SS_CLOSING)
        return;
    if (s_must_hold(s)) {
        if (s->ndeferred >= GW_DEFER_MAX) {
            s_kill(s, s->state == SS_AUTHING ? "too many frames before the auth answer"
                                             : "too many frames held over its byte budget");
            return;
        }
        gw_deferred_t *d = malloc(sizeof *d + len + 1);
        if (!d) {
            s_kill(s, "out of memory");
            return;
        }
        d->next = NULL;
        d->binary = binary;
        d->len = len;
        memcpy(d->data, data, len);
        d->data[len] = 0;
        if (s->dtail)
            s->dtail->next = d;
        else
            s->dhead = d;
        s->dtail = d;
        s->ndeferred++;
        gw_budget_held(s, len, 0);
        gw_budget_enforce(s->gw);
        return;
    }
    s->in_dispatch = true;
    gw_requests_frame(s, data, len, binary);
    s->in_dispatch = false;
}

static void s_too_large(gw_session_t *s)
{
    pl_info("session %llu: frame over %d bytes, closing 1009", (unsigned long long)s->sid,
            PL_FRAME_MAX);
    gw_pending_t *p = gw_session_pending_push(s);
    if (p) {
        static const char msg[] = "frame larger than 1 MiB";
        gw_session_answer(s, p, gw_frame_error(NULL, PL_E_TOO_LARGE, msg, sizeof msg - 1));
    }
    gw_session_close(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE);
}

static void s_receive(gw_session_t *s, const char *in, size_t len)
{
    struct lws *wsi = s->wsi;
    if (!s->rx_started) {
        s->rx_started = true;
        s->rx_binary = lws_frame_is_binary(wsi);
        s->rx_len = 0;
        s->rx_oversize = false;
        s->rx_in_frame = false;
    }
    size_t remaining = lws_remaining_packet_payload(wsi);
    if (!s->rx_in_frame) {
        /* the first chunk of a frame: its header declared len + remaining bytes. A
         * message that would pass PL_FRAME_MAX is refused now, not once it has all
         * streamed in (a header may declare up to 2^63 bytes). */
        if (remaining > PL_FRAME_MAX || s->rx_len + len + remaining > PL_FRAME_MAX) {
            s->rx_started = false;
            s->rx_len = 0;
            s_too_large(s);
            return;
        }
    }
    s->rx_in_frame = remaining > 0;
    bool final = lws_is_final_fragment(wsi) && remaining == 0;
    if (!s->rx_oversize) {
        if (s->rx_len + len > PL_FRAME_MAX) {
            s->rx_oversize = true;
        } else if (final && s->rx_len == 0) {
            /* whole message in one chunk: no copy */
            s->rx_started = false;
            s_message(s, in, len, s->rx_binary);
            return;
        } else if (len) {
            if (s->rx_len + len + 1 > s->rx_cap) {
                size_t cap = s->rx_cap ? s->rx_cap : 16384;
                while (cap < s->rx_len + len + 1)
                    cap *= 2;
                if (cap > PL_FRAME_MAX + 1)
                    cap = PL_FRAME_MAX + 1;
                char *nb = realloc(s->rx, cap);
                if (!nb) {
                    s_kill(s, "out of memory");
                    return;
                }
                s->rx = nb;
                s->rx_cap = cap;
            }
            memcpy(s->rx + s->rx_len, in, len);
            s->rx_len += len;
        }
    }
    if (!final)
        return;
    s->rx_started = false;
    if (s->rx_oversize)
        s_too_large(s);
    else
        s_message(s, s->rx ? s->rx : "", s->rx_len, s->rx_binary);
    s->rx_len = 0;
    if (s->rx_cap > GW_RX_KEEP) {
        free(s->rx);
        s->rx = NULL;
        s->rx_cap = 0;
    }
}

/* Frames written in one WRITEABLE callback at most (see s_writeable). */
#define GW_WRITES_PER_TURN 32
#define GW_WRITE_TURN_BYTES (64 * 1024)

/* The head of s's out queue is written: unlink and free it. */
static void s_out_pop(gw_session_t *s)
{
    gw_outq_item_t *it = s->ohead;
    s->ohead = it->next;
    if (!s->ohead)
        s->otail = NULL;
    s->ocount--;
    if (it->event)
        s->ebytes -= it->blob->len;
    gw_budget_out_del(s, it->blob);
    s->ooff = 0;
    gw_blob_unref(&it->blob);
    pl_pool_put(&s_oq_pool, it);
}

static int s_writeable(gw_session_t *s)
{
    struct lws *wsi = s->wsi;
    gw_outq_item_t *it = s->ohead;
    /* presence: a due ping goes out between whole messages, as this turn's one frame */
    if (s->ping_due && s->ooff == 0 && s->state == SS_AUTHED) {
        s->ping_due = false;
        /* with a payload: lws 4.1 raises no RECEIVE_PONG for an empty pong (checked) */
        memcpy(s_scratch + LWS_PRE, "parley", 6);
        if (lws_write(wsi, s_scratch + LWS_PRE, 6, LWS_WRITE_PING) < 0)
            return -1;
        if (it)
            lws_callback_on_writable(wsi);
        return 0;
    }
    if (!it) {
        /* the close waits for every answer still due (PROTOCOL.md §1: the too_large or
         * unauthenticated error, and the answers to earlier requests, come first); each
         * answer, at the latest at its deadline, asks for a write again; a session whose
         * token was revoked waits at most GW_REVOKE_WAIT_MS (close_force, logout.c) */
        if (s->close_code && (!s->phead || s->close_force)) {
            pl_debug("session %llu: closing with %d", (unsigned long long)s->sid, s->close_code);
            /* Not lws_close_reason + `return -1`: from WRITEABLE lws 4.1 takes -1 as a
             * failed write and drops the socket without a close frame (checked). So we
             * write the close frame ourselves; lws ends the connection when the peer
             * answers it, or the timeout does. */
            if (!s->close_sent) {
                s->close_sent = true;
                s_scratch[LWS_PRE] = (unsigned char)(s->close_code >> 8);
                s_scratch[LWS_PRE + 1] = (unsigned char)(s->close_code & 0xff);
                if (lws_write(wsi, s_scratch + LWS_PRE, 2, GW_LWS_WRITE_CLOSE) < 0)
                    return -1;
                lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, 3);
            }
            return 0;
        }
        return 0;
    }
    /* Several queued frames per WRITEABLE turn (a socket in a busy group has many): one
     * frame per turn cost a loop turn, an epoll_ctl pair and a send() each.
     * - Whole frames that fit in GW_WRITE_TURN_BYTES are framed here (server frames are
     *   not masked: FIN + text opcode, the length) back to back in the scratch buffer
     *   and handed to lws as raw bytes (LWS_WRITE_HTTP: lws 4.1's ws role sends those
     *   as they are), one send() for all of them. Safe because nothing else is inside a
     *   frame here (ooff == 0) and no extension is negotiated.
     * - A bigger message goes as before, one fragment of up to GW_WS_FRAG per turn.
     * At most GW_WRITES_PER_TURN frames / GW_WRITE_TURN_BYTES per turn, so one socket
     * cannot hold the loop. What the kernel does not take lws keeps in the wsi's
     * buflist_out and drains before it asks us again, so a non-reading peer costs at
     * most one turn's bytes beyond its queue budget. */
    if (s->ooff == 0 && it->blob->len + 10 <= GW_WRITE_TURN_BYTES) {
        size_t used = 0;
        for (int k = 0; it && k < GW_WRITES_PER_TURN; k++, it = s->ohead) {
            size_t len = it->blob->len;
            if (used + len + 10 > GW_WRITE_TURN_BYTES)
                break;
            unsigned char *h = s_scratch + LWS_PRE + used;
            h[0] = 0x81; /* FIN, text */
            if (len < 126) {
                h[1] = (unsigned char)len;
                used += 2;
            } else if (len < 65536) {
                h[1] = 126;
                h[2] = (unsigned char)(len >> 8);
                h[3] = (unsigned char)len;
                used += 4;
            } else {
                h[1] = 127;
                for (int i = 0; i < 8; i++)
                    h[2 + i] = (unsigned char)((uint64_t)len >> (8 * (7 - i)));
                used += 10;
            }
            memcpy(s_scratch + LWS_PRE + used, it->blob->data, len);
            used += len;
            s_out_pop(s);
        }
        if (lws_write(wsi, s_scratch + LWS_PRE, used, LWS_WRITE_HTTP) < 0) {
            pl_debug("session %llu: write failed", (unsigned long long)s->sid);
            return -1;
        }
        s->progress_at = uv_now(&s->gw->loop);
    } else {
        size_t left = it->blob->len - s->ooff;
        size_t n = left > GW_WS_FRAG ? GW_WS_FRAG : left;
        memcpy(s_scratch + LWS_PRE, it->blob->data + s->ooff, n);
        int flags = lws_write_ws_flags(LWS_WRITE_TEXT, s->ooff == 0, n == left);
        if (lws_write(wsi, s_scratch + LWS_PRE, n, (enum lws_write_protocol)flags) < 0) {
            pl_debug("session %llu: write failed", (unsigned long long)s->sid);
            return -1;
        }
        s->ooff += n;
        s->progress_at = uv_now(&s->gw->loop);
        if (s->ooff == it->blob->len)
            s_out_pop(s);
    }
    if (s->ohead || s->close_code)
        lws_callback_on_writable(wsi);
    s_replay(s);
    return 0;
}

/* The end of a loop turn (uv_prepare, before libuv polls): write what this turn queued.
 * A socket with nothing buffered in lws (lws_partial_buffered) is written now, as from
 * WRITEABLE — several frames in one send(), the rest (more than one turn's worth) through
 * WRITEABLE as before; one with bytes still buffered in lws waits for WRITEABLE. No
 * poll() per socket (lws_send_pipe_choked asks the kernel for POLLOUT each time: one
 * syscall per write): when the kernel takes less than a write, lws keeps the rest (at most
 * one turn's bytes, GW_WRITE_TURN_BYTES) and the socket counts as choked from then on, so
 * a peer that does not read keeps the frames after that in our queue (the budget and the
 * slow-reader checks see them). s_writeable's replay may queue more for this or another
 * session: the list is taken until it is empty. */
static void s_flush_cb(uv_prepare_t *h)
{
    gw_t *gw = h->data;
    gw_session_t *s;
    while ((s = gw->flush_head)) {
        gw->flush_head = s->fnext;
        s->fnext = NULL;
        s->flushq = false;
        struct lws *wsi = s->wsi;
        if (wsi && !s->killed) {
            if (gw->stopping || lws_partial_buffered(wsi)) {
                lws_callback_on_writable(wsi);
            } else {
                pl_turn_count("ws_tx", 1);
                if (s_writeable(s) != 0) {
                    /* what WRITEABLE's -1 does: drop the connection */
                    s->state = SS_CLOSING;
                    lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
                }
            }
        }
        gw_session_unref(&s);
    }
}

int gw_ws_flush_start(gw_t *gw)
{
    gw->flush_head = NULL;
    gw->flush.data = gw;
    if (uv_prepare_init(&gw->loop, &gw->flush) != 0)
        return -1;
    return uv_prepare_start(&gw->flush, s_flush_cb);
}

void gw_ws_flush_stop(gw_t *gw)
{
    if (uv_is_closing((uv_handle_t *)&gw->flush))
        return; /* stopped already */
    /* from here s_want_write asks lws for WRITEABLE; what waits goes that way too */
    s_flush_cb(&gw->flush);
    uv_prepare_stop(&gw->flush);
    uv_close((uv_handle_t *)&gw->flush, NULL);
}

/* netio: the client sent an unmasked frame (RFC 6455 §5.1); called from inside lws's
 * read, before lws sees that frame. Nothing more is processed; close 1002 once the
 * answers due are out. */
static void s_unmasked(void *arg)
{
    gw_session_t *s = arg;
    if (!s->wsi || s->state == SS_CLOSING)
        return;
    pl_info("session %llu (%s/%s): unmasked frame, closing 1002", (unsigned long long)s->sid,
            s->user, s->device);
    gw_session_close(s, LWS_CLOSE_STATUS_PROTOCOL_ERR);
}

static bool s_path_is_ws(struct lws *wsi)
{
    char path[32];
    int n = lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI);
    return n > 0 && strcmp(path, "/v1/ws") == 0;
}

/* --allowed-origins: true when the upgrade carries no Origin (native apps), the list is
 * empty, or its Origin equals one entry (ASCII case-insensitive, as scheme and host are). */
static bool s_origin_allowed(gw_t *gw, struct lws *wsi)
{
    if (gw->cfg.norigins == 0)
        return true;
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
    if (n <= 0)
        return true;
    char origin[512];
    if (n >= (int)sizeof origin || lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN) < 0) {
        pl_info("WebSocket upgrade refused (403): Origin of %d bytes", n);
        return false;
    }
    for (int i = 0; i < gw->cfg.norigins; i++)
        if (strcasecmp(origin, gw->cfg.origins[i]) == 0)
            return true;
    pl_info("WebSocket upgrade refused (403): Origin %.200s not in --allowed-origins", origin);
    return false;
}

int gw_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len)
{
    struct gw_pss *pss = user;
    gw_t *gw = lws_context_user(lws_get_context(wsi));

    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        if (!s_path_is_ws(wsi)) {
            pl_debug("WebSocket upgrade on another path refused");
            return -1;
        }
        char ver[8];
        if (lws_hdr_copy(wsi, ver, sizeof ver, WSI_TOKEN_VERSION) <= 0 || strcmp(ver, "13") != 0) {
            /* RFC 6455 §4.2.2: only version 13; lws 4.1 upgrades any version */
            pl_debug("WebSocket upgrade refused: Sec-WebSocket-Version is not 13");
            lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, NULL);
            return -1;
        }
        if (!s_origin_allowed(gw, wsi)) {
            lws_return_http_status(wsi, HTTP_STATUS_FORBIDDEN, NULL);
            return -1;
        }
        return 0;

    case LWS_CALLBACK_ESTABLISHED: {
        if (gw->stopping)
            return -1;
        gw_session_t *s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->refs = 1;
        s->gw = gw;
        s->wsi = wsi;
        s->sid = ++gw->next_sid;
        s->state = SS_NEW;
        lws_get_peer_simple(wsi, s->peer, sizeof s->peer);
        pss->s = s;
        gw->nsessions++;
        gw_netio_ws_start(lws_get_socket_fd(wsi), s_unmasked, s);
        gw_budget_session_add(s);
        pl_debug("session %llu: connected from %s", (unsigned long long)s->sid, s->peer);
        return 0;
    }

    case LWS_CALLBACK_RECEIVE:
        if (!pss->s || !pss->s->wsi)
            return -1;
        if (pss->s->state == SS_CLOSING)
            return 0;
        pl_turn_count("ws_rx", 1); /* main.c told presence.c first (gw_presence_frame) */
        pss->s->in_rx = true;
        s_receive(pss->s, in, len);
        pss->s->in_rx = false;
        s_rx_update(pss->s);
        return 0;

    case LWS_CALLBACK_SERVER_WRITEABLE:
        if (!pss->s || !pss->s->wsi)
            return -1;
        pl_turn_count("ws_tx", 1);
        return s_writeable(pss->s);

    case LWS_CALLBACK_CLOSED: {
        gw_session_t *s = pss->s;
        if (!s)
            return 0;
        pl_debug("session %llu (%s/%s): closed", (unsigned long long)s->sid, s->user, s->device);
        gw_netio_forget(lws_get_socket_fd(wsi));
        gw_budget_session_remove(s); /* main.c unregistered it (sessions.c) already */
        s_release(s);
        s->wsi = NULL;
        gw->nsessions--;
        pss->s = NULL;
        gw_session_unref(&s);
        return 0;
    }

    default:
        return 0;
    }
}
