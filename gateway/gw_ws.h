/* gw_ws — WebSocket sessions: the session object, its answer FIFO and out queue, end-of-turn
 * writes, the lws callback (ws.c). Loop thread only.
 *
 * Ownership: ws.c creates a gw_session_t at ESTABLISHED; it is reference counted. The lws
 * connection holds one reference until CLOSED, every request in flight (gw_req_t) one
 * more; the last gw_session_unref frees it. After close, wsi is NULL and answers are
 * dropped. Other modules keep their per-session state in the struct (their fields are
 * marked with the owning file) and touch only those. */
#ifndef GW_WS_H
#define GW_WS_H

#include <sodium.h> /* crypto_hash_sha256_BYTES */
#include <uv.h>     /* before libwebsockets.h */
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_bucket.h"   /* gw_bucket_t */
#include "gw_validate.h" /* gw_conv_memo_t */
#include "pl_text.h"

typedef struct gw gw_t;
typedef struct gw_blob gw_blob_t;
typedef struct gw_session gw_session_t;
typedef struct gw_order_gate gw_order_gate_t;

enum gw_session_state { SS_NEW, SS_AUTHING, SS_AUTHED, SS_CLOSING };

typedef struct gw_pending {
    struct gw_pending *next;
    bool done;
    size_t reserve;   /* budget.c: worst-case answer size counted in s->reserved until done */
    gw_blob_t *frame; /* the answer, once done */
} gw_pending_t;

/* Private to ws.c: an out-queue entry and a frame held while auth is in flight. */
typedef struct gw_outq_item gw_outq_item_t;
typedef struct gw_deferred gw_deferred_t;

struct gw_session {
    int refs;
    gw_t *gw;
    struct lws *wsi; /* NULL once closed */
    uint64_t sid;
    enum gw_session_state state;
    char user[PL_USER_MAX + 1];
    char device[PL_DEVICE_MAX + 1];
    char th[2 * crypto_hash_sha256_BYTES +
            1]; /* hex SHA-256 of the token's secret (logout.c closes on revoke) */
    char peer[64];
    /* sessions.c: list of this user's sessions */
    gw_session_t *uprev, *unext;
    bool registered;
    /* rx reassembly */
    char *rx;
    size_t rx_len, rx_cap;
    bool rx_started, rx_binary, rx_oversize, rx_paused, in_rx;
    bool rx_in_frame; /* inside a frame: lws_remaining_packet_payload() was > 0 */
    /* frames that arrived while auth was in flight */
    gw_deferred_t *dhead, *dtail;
    int ndeferred;
    /* answers in request order */
    gw_pending_t *phead, *ptail;
    int npending;
    /* frames to write; ooff: bytes of the head already written */
    gw_outq_item_t *ohead, *otail;
    size_t obytes, ooff;
    int ocount;
    size_t ebytes;        /* bytes of events in the out queue (--event-queue-kib) */
    uint64_t progress_at; /* uv_now of the last write, or of the queue becoming non-empty */
    int close_code;       /* close after the queue drains (0: no) */
    bool close_sent;
    /* logout.c: the token was revoked; close_force: stop waiting for answers still due */
    bool revoked, close_force;
    /* presence.c: liveness (times are uv_now ms); list of authenticated sessions */
    struct pres_user *pu;
    gw_session_t *pprev, *pnext;
    uint64_t last_active, last_ping;
    bool live, ping_due;
    /* limits.c: request rate of this socket */
    gw_bucket_t rate;
    /* requests.c: the conversation of this socket's last valid conversation request, its
     * dm's other user (gw_valid_conv_request skips the check for it), and conv_known:
     * that user is known to exist (no lookup in gw->known_users) */
    gw_conv_memo_t conv_memo;
    bool conv_known;
    /* order.c: conversations with requests of this socket waiting to go, in order */
    gw_order_gate_t *gates;
    /* budget.c: bytes held (obytes + pbytes + deferred frames), worst cases in flight */
    size_t mem, pbytes, reserved;
    bool killed, listed, in_dispatch;
    gw_session_t *bprev, *bnext; /* gw->all */
    /* ws.c: on gw->flush_head (one reference) until this turn's writes are made */
    gw_session_t *fnext;
    bool flushq;
};

gw_session_t *gw_session_ref(gw_session_t *s);
void gw_session_unref(gw_session_t **s_p);
/* Append an unanswered entry to the FIFO; NULL on OOM. */
gw_pending_t *gw_session_pending_push(gw_session_t *s);
/* Fill p with frame (takes ownership; NULL frame = internal error) and write every
 * completed answer at the head of the FIFO. Safe after close (frame is dropped). */
void gw_session_answer(gw_session_t *s, gw_pending_t *p, gw_blob_t *frame);
/* p is done with nothing to write (a hold in the answer order, see ws.c s_activity). */
void gw_session_pass(gw_session_t *s, gw_pending_t *p);
/* Queue an event frame (takes a new reference on b). Culls the session if too slow. */
void gw_session_push_event(gw_session_t *s, gw_blob_t *b);
/* Drop every queued, not yet started event frame tagged with conv (groups: a removed
 * member loses access at once). Answers and a frame already partly written stay. */
void gw_session_drop_conv(gw_session_t *s, const char *conv, size_t conv_len);
/* Drop the socket at once (close reason 1008, nothing more is written): why is logged. */
void gw_session_kill(gw_session_t *s, const char *why);
/* A WebSocket ping (presence.c): written with this turn's other writes (gw_ws_flush_start),
 * between whole messages; lws is asked for WRITEABLE only when the socket is choked. */
void gw_session_ping(gw_session_t *s);
/* Write what is queued, then close with code (4401, 1009, ...). */
void gw_session_close(gw_session_t *s, int code);
/* Auth finished (state already set by the caller): resume rx, replay deferred frames. */
void gw_session_auth_finished(gw_session_t *s);
/* Writes at the end of the loop turn (ws.c): a uv_prepare (Redis's beforeSleep) writes
 * the queues of the sessions that got frames this turn straight away when their socket
 * takes data, instead of asking lws for a WRITEABLE callback each time (libuv's poll
 * start/stop behind it cost ≈ 5 epoll_ctl and a loop turn per write). gw_ws_flush_start at
 * start-up (0 or -1); gw_ws_flush_stop from a loop callback at shutdown (uv_close). */
int gw_ws_flush_start(gw_t *gw);
void gw_ws_flush_stop(gw_t *gw);
/* Free the pooled out-queue and answer-FIFO entries (ws.c keeps up to 1,024 of each for
 * reuse). At exit, once every session is gone. */
void gw_ws_pools_free(void);
/* lws callback for the WebSocket reasons. */
int gw_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                   size_t len);

#endif
