/* router_int — state shared by the router's own files (router.c, route.c, peers.c).
 * Not for use outside router/. Thread: the router's loop thread only. */
#ifndef PL_ROUTER_INT_H
#define PL_ROUTER_INT_H
#include "router.h"
#include "pl_hash.h"
#include "pl_log.h"
#include "pl_msg.h"

/* Rate limit for warnings that a peer can trigger at message rate: at most one line a
 * second per kind, with the count of the lines left out. */
typedef struct {
    int64_t last_ms;
    uint64_t suppressed;
} router_rl_t;

/* Peers are known by the name their CURVE key binds them to (the ZAP User-Id, "s/<id>" or
 * "g/<name>"); the routing id is only the handle of the connection that last spoke with
 * that key (peers choose no identity: libzmq gives each connection a fresh one). */
typedef struct {
    unsigned char rid[256]; /* routing id of the shard's latest connection */
    size_t rid_len;         /* 0: never heard of */
    int64_t last_hb;        /* pl_mono_ms of the last HB; 0 = never */
    bool alive;             /* as last logged (up/down transitions) */
    /* Requests for this shard staged during a drain of front (route.c s_stage), all of
     * one gateway: a BATCH of REQ/REQN (PL_MF_REQS), sent by route__flush. */
    pl_buf_t staged;
    char staged_gw[PL_MSG_ADDR_MAX + 1]; /* that gateway's name; "" when nothing is staged */
} router_shard_t;

typedef struct {
    zframe_t *ident; /* routing id of the gateway's latest connection */
    char *name;      /* "g/<name>" from its key: the hash key, sent to shards */
    uint64_t epoch;  /* last epoch seen; TABLE was sent for it (if has_epoch) */
    bool has_epoch;
    uint64_t cur_epoch, cur_locseq; /* latest (epoch, locseq) from its HB or LOC */
    bool has_seq;
    int64_t last_hb;
} router_gw_t;

typedef struct _router_zap_t router_zap_t;

struct _router_t {
    router_zap_t *zap;
    char public_key[41];
    int64_t last_ping;
    zsock_t *front; /* ROUTER, bound: gateways */
    zsock_t *back;  /* ROUTER, bound: shards */
    /* socket monitors (PAIR) of front/back: failed handshakes, see router.c */
    zsock_t *mon_front, *mon_back;
    int64_t mon_logged_ms[2];
    uint64_t mon_failed[2];
    char *front_ep, *back_ep;
    pl_slots_t *slots;
    char *table; /* pl_slots_encode(slots) */
    int nshards;
    router_shard_t *shards; /* [nshards] */
    bool staged_any;        /* some shard has requests staged (route__flush) */
    bool front_sent;        /* route__flush answered on front (reset by each call) */
    zhashx_t *gws;          /* "g/<name>" -> router_gw_t* (owned) */
    int64_t shard_dead_ms, gw_dead_ms;
    pl_buf_t out; /* messages the router makes itself (HB, GWHB, TABLE, REP, HEALTH) */
    router_rl_t rl_malformed, rl_gw_gone, rl_fwd_drop, rl_unavail, rl_shard_bad, rl_noauth;
};

/* route.c: handle one message received on front/back: its n parts, the routing id
 * first. Returns the number of messages it stood for (a gateway's BATCH: its entries;
 * else 1), which the drain counts against its bound. Never fails: malformed input is logged (rate
 * limited) and dropped. The parts stay the caller's to close; a relayed part has been moved out
 * (zmq_msg_send leaves it empty). */
int route__front(router_t *self, zmq_msg_t *parts, int n);
int route__back(router_t *self, zmq_msg_t *parts, int n);
/* Send the requests route__front staged per shard (one frame per shard and gateway; a
 * lone one plain). Called after each drain of front, so a request waits at most for the
 * rest of its drain (up to ROUTER_DRAIN_MAX messages), never for another wake-up. True if
 * it sent on front (an `unavailable` answer for a request whose shard refused it). */
bool route__flush(router_t *self);
#ifdef PARLEY_FUZZ
/* Fuzz builds only: the sender name used when a message carries no ZAP User-Id. */
extern const char *router__fuzz_sender;
#endif

/* zap.c */
/* Read the allow folder and bind the ZAP handler. NULL (logged) on failure. */
router_zap_t *router_zap_new(const char *allow_dir);
void router_zap_destroy(router_zap_t **self_p);
zsock_t *router_zap_sock(router_zap_t *self);
/* Answer one waiting ZAP request (call when the socket is readable). */
void router_zap_handle(router_zap_t *self);

/* peers.c */
/* True if shard id has sent an HB within shard_dead_ms. */
bool peers__shard_live(router_t *self, int id, int64_t now);
/* Shard id (its key says s/<id>) sent HB (hello false) or HELLO (hello true: it has just
 * started or reconnected) over the connection with routing id rid (len bytes), which
 * becomes the one the router sends to. version is the slot table version the shard knows
 * (header seq with PL_MF_VERSION; 0: none), NULL when it sent none. On HELLO, when the shard comes
 * up, or when version differs from the router's, TABLE{seq=version}[table] is sent to the shard
 * first. When the shard comes up (first HB, or first after it was down) or says HELLO, every known
 * gateway's latest GWHB{epoch, locseq} is replayed to it at once, so it can ask for their LOC
 * snapshots without waiting for their next heartbeat. */
void peers__shard_hb(router_t *self, int id, const void *rid, size_t len, const uint64_t *version,
                     bool hello, int64_t now);
/* Shard id's key opened a new connection (its ZMQ_PROBE_ROUTER message): send to rid. */
void peers__shard_connected(router_t *self, int id, const void *rid, size_t len);
/* Gateway name (from its key) spoke over the connection rid: find or add its entry,
 * make rid the connection to answer on and count the message as a sign of life. NULL on
 * OOM. */
router_gw_t *peers__gw_touch(router_t *self, const char *name, const void *rid, size_t len);
/* The entry of gateway name, or NULL. */
router_gw_t *peers__gw_find(router_t *self, const char *name);
/* The gateway sent HB{epoch, locseq}. Sends TABLE the first time the epoch is seen. */
void peers__gw_hb(router_t *self, router_gw_t *gw, uint64_t epoch, uint64_t locseq, int64_t now);
/* The gateway sent LOC{epoch, locseq}: remember the latest locseq. */
void peers__gw_loc(router_t *self, router_gw_t *gw, uint64_t epoch, uint64_t locseq);
/* Periodic: log shards and gateways that went silent; every ROUTER_PING_MS send HB
 * to every live shard and known gateway. */
void peers__tick(router_t *self, int64_t now);
/* True when every shard of the table is live. */
bool peers__all_shards_live(router_t *self, int64_t now);
void peers__gw_free(void **item);

/* router.c */
/* pl_warn, at most once a second per rl. */
void router__warn_rl(router_rl_t *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
