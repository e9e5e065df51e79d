/* router_int — state shared by the router's own files (router.c, route.c, peers.c).
 * Not for use outside router/. Thread: the router's loop thread only. */
#ifndef PL_ROUTER_INT_H
#define PL_ROUTER_INT_H
#include "router.h"
#include "pl_hash.h"
#include "pl_log.h"

/* Rate limit for warnings that a peer can trigger at message rate: at most one line a
 * second per kind, with the count of the lines left out. */
typedef struct {
    int64_t last_ms;
    uint64_t suppressed;
} router_rl_t;

typedef struct {
    char ident[32]; /* "s/<id>": the shard's DEALER identity */
    size_t ident_len;
    int64_t last_hb; /* pl_mono_ms of the last HB; 0 = never */
    bool alive;      /* as last logged (up/down transitions) */
} router_shard_t;

typedef struct {
    zframe_t *ident;                  /* the gateway's identity frame, as received */
    char *name;                       /* printable form for logs */
    char *epoch;                      /* last epoch seen; TABLE was sent for it */
    zframe_t *cur_epoch, *cur_locseq; /* latest (epoch, locseq) from its HB or LOC */
    int64_t last_hb;
} router_gw_t;

struct _router_t {
    zsock_t *front; /* ROUTER, bound: gateways */
    zsock_t *back;  /* ROUTER, bound: shards */
    char *front_ep, *back_ep;
    pl_slots_t *slots;
    char *table; /* pl_slots_encode(slots) */
    int nshards;
    router_shard_t *shards; /* [nshards] */
    zhashx_t *gws;          /* hex identity -> router_gw_t* (owned) */
    int64_t shard_dead_ms, gw_dead_ms;
    router_rl_t rl_malformed, rl_gw_gone, rl_fwd_drop, rl_unavail, rl_shard_bad;
};

/* route.c: handle one message received on front/back (identity frame first). Never
 * fails: malformed input is logged (rate limited) and dropped. msg stays the caller's. */
void route__front(router_t *self, zmsg_t *msg);
void route__back(router_t *self, zmsg_t *msg);

/* peers.c */
/* True if shard id has sent an HB within shard_dead_ms. */
bool peers__shard_live(router_t *self, int id, int64_t now);
/* A shard sent ["HB", shardid, version] (hello false) or ["HELLO", shardid, version]
 * (hello true: it has just started) from identity ident; version (the slot table version
 * the shard knows, "0" for none) may be NULL. On HELLO, when the shard comes up, or when
 * version differs from the router's, ["TABLE", table] is sent to the shard first (not
 * to a shard that sends no version). When the shard comes up (first HB, or
 * first after it was down) or says HELLO, every known gateway's latest ["GWHB", gw, epoch, locseq]
 * is replayed to it at once, so it can ask for their LOC snapshots without waiting for
 * their next heartbeat. */
void peers__shard_hb(router_t *self, zframe_t *ident, zframe_t *idf, zframe_t *version, bool hello,
                     int64_t now);
/* A gateway sent ["HB", epoch, locseq]. Sends TABLE the first time the epoch is seen. */
void peers__gw_hb(router_t *self, zframe_t *ident, zframe_t *epoch, zframe_t *locseq, int64_t now);
/* A gateway sent ["LOC", epoch, locseq, ...]: remember the latest locseq (known gateways). */
void peers__gw_loc(router_t *self, zframe_t *ident, zframe_t *epoch, zframe_t *locseq);
/* Periodic: log shards and gateways that went silent. */
void peers__tick(router_t *self, int64_t now);
/* True when every shard of the table is live. */
bool peers__all_shards_live(router_t *self, int64_t now);
void peers__gw_free(void **item);

/* router.c */
/* Printable copy of a frame for logs: the text if it is printable ASCII (cut at 64
 * bytes), else hex. Caller frees. */
char *router__printable(zframe_t *f);
/* pl_warn, at most once a second per rl. */
void router__warn_rl(router_rl_t *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
