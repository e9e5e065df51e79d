/* gw_env — the gateway's request code (requests.c, convs.c, gather.c, groups.c, push.c,
 * presence.c, accounts.c, ...) without sockets, for fuzz_frame and fuzz_accounts.
 *
 * gw_env.c stands in for the socket layer the harnesses leave out: ws.c (sessions: the
 * answer FIFO, closing), zlink.c (the router link: requests are queued here and answered
 * by the harness) and http.c (responses). It checks what leaves: every frame for a
 * client and every HTTP response body is a JSON object, every payload for a shard is a
 * JSON object, answers leave a socket in request order; a violation aborts (a finding).
 * uv_queue_work (Argon2id) is not run: its after-callback gets UV_ECANCELED. */
#ifndef FUZZ_GW_ENV_H
#define FUZZ_GW_ENV_H
#include "gw.h"
#include "gw_ws.h"

/* The gateway (initialised at the first call). */
gw_t *fuzz_gw(void);
/* A new WebSocket session of fuzz_gw() (state SS_NEW, peer 127.0.0.1), one reference. */
gw_session_t *fuzz_session_new(void);
/* Answer every queued router request, and those the answers cause, in order: each takes
 * the next line "<status> <body>" of answers (past the end: "ok {}"); queued thread-pool
 * work is cancelled. Returns the bytes of answers used. */
size_t fuzz_answer_all(const char *answers, size_t len);
/* Close s (as lws's CLOSED: wsi NULL, registration dropped) and drop the reference. */
void fuzz_session_close(gw_session_t **s_p);
/* While false, events for clients are not checked (fuzz_gwevt: a shard's event is passed
 * on verbatim, the shard is trusted to build it). */
extern bool fuzz_gw_check_events;
/* Bytes of answers delivered to clients (frames and HTTP bodies) since the start. */
extern size_t fuzz_gw_out;

#endif
