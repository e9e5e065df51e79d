/* gw_presence — liveness, presence_report to the shards, the `presence` request (presence.c). Loop
 * thread only unless a comment says otherwise. */
#ifndef GW_PRESENCE_H
#define GW_PRESENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

typedef struct gw gw_t;
typedef struct gw_session gw_session_t;
typedef struct gw_pending gw_pending_t;
typedef struct gw_frame_head gw_frame_head_t;
typedef struct gw_type_def gw_type_def_t;

/* Start the liveness/report timer on gw->loop. 0 or -1. */
int gw_presence_init(gw_t *gw);
/* Shutdown, before gw_zlink_stop: close the timer, report every user offline (best effort). */
void gw_presence_stop(gw_t *gw);
/* After the loop ended: free everything. */
void gw_presence_fini(gw_t *gw);
/* An authenticated session starts counting (gw_sessions_register). If it is the user's first
 * live session here and the user's shard does not hold it live here, the online report
 * goes out at once (not batched). */
void gw_presence_session_live(gw_session_t *s);
/* Any received frame chunk or pong of s: it is live now (reported at once, as above, if
 * it was the user's only session here and silent). */
void gw_presence_activity(gw_session_t *s);
/* A received frame chunk of s (not closing): gw_presence_activity, and if that woke a
 * silent session of a user its shard holds offline, an empty hold entry in s's answer
 * FIFO keeps this frame's answer and all later ones until the online report is answered
 * (PROTOCOL.md "Presence": online from that frame on). Called before ws.c reads the chunk. */
void gw_presence_frame(gw_session_t *s);
/* ok: the shard answered the online report (false: it failed or timed out). */
typedef void gw_presence_done_fn(void *arg, bool ok);
/* After gw_presence_session_live of an auth, before its ok is written: returns 0 if nothing
 * is to be waited for (done is not called); 1 if an online report of s's user is in
 * flight, and done(arg, ok) will be called once it is answered (always, also when the
 * link stops); -1 when out of memory (done is not called). Loop thread only. */
int gw_presence_wait_shard(gw_session_t *s, gw_presence_done_fn *done, void *arg);
/* s closed or unregistered. */
void gw_presence_session_gone(gw_session_t *s);
/* SNAP: the next report carries "full". */
void gw_presence_snapshot(gw_t *gw);
/* gw_type_fn (gw_types.h): the `presence` request of s into p. */
void gw_presence_request(gw_session_t *s, gw_pending_t *p, const char *id_json,
                         const gw_type_def_t *t, gw_frame_head_t *h);

#endif
