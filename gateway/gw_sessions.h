/* gw_sessions — who is connected here: sessions by user, LOC to the shards, EVT delivery
 * (sessions.c). Loop thread only unless a comment says otherwise. */
#ifndef GW_SESSIONS_H
#define GW_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct gw gw_t;
typedef struct gw_session gw_session_t;

int gw_sessions_init(gw_t *gw);
void gw_sessions_fini(gw_t *gw);
/* Register an authenticated session under its user; sends LOC add at once if it is the
 * user's first session here (before the caller writes the auth ok). Returns 0 or -1. */
int gw_sessions_register(gw_t *gw, gw_session_t *s);
/* Before an auth's token_check: LOC add for user unless held here already (a del follows
 * at the next tick unless a session registers). The router relays the LOC before the
 * token_check, so once the auth ok is written every shard knows the location, and a
 * request the client sends next through any gateway finds it there. */
void gw_sessions_announce(gw_t *gw, const char *user);
/* Remove a session (no-op if not registered); a user's last session queues a LOC del. */
void gw_sessions_unregister(gw_t *gw, gw_session_t *s);
/* The first of user's registered sessions here (follow s->unext), or NULL. */
gw_session_t *gw_sessions_of(gw_t *gw, const char *user);
/* Once a second: send the batched LOC dels. */
void gw_sessions_tick(gw_t *gw);
/* SNAP: send LOC full with every user held here. */
void gw_sessions_snapshot(gw_t *gw);
/* EVT: push event to every authenticated session of the users in to (a pl_list), except
 * the one whose "<user>/<device>" equals skip. The caller hands control events
 * (gw_logout_is_control) to gw_logout_revoke instead: they reach no client. */
void gw_sessions_deliver(gw_t *gw, const void *to, size_t to_len, const char *skip,
                         const char *event, size_t event_len);

#endif
