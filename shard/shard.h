/* shard — the shard role's context and the dispatch of messages from the router
 * (docs/internals.md "router → shard").
 *
 * A shard_t owns the store and the modules (group commit, conversations, location table,
 * outbox, ...) and knows how to send a multipart message back to the router through a
 * send function that link.c sets to its DEALER socket (unit tests set a capturing one). Everything
 * here runs on the shard's single loop thread; nothing blocks except RocksDB reads and writes.
 *
 * One wake of the loop: shard_handle() for each message drained from the socket (up to
 * 256), then shard_flush() once, which writes the group commit (commit.h) and only then
 * answers what it holds and pushes their events. shard_tick() runs every 500 ms. */
#ifndef SHARD_SHARD_H
#define SHARD_SHARD_H
#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "guard.h"
#include "pl_hash.h"
#include "pl_msg.h"
#include "pl_ops.h"
#include "providers.h"
#include "roster.h"
#include "store.h"

typedef struct _shard_commit_t shard_commit_t;
typedef struct _shard_conv_t shard_conv_t;
typedef struct _shard_roster_t shard_roster_t;
typedef struct _shard_receipts_t shard_receipts_t;
typedef struct _shard_loc_t shard_loc_t;
typedef struct _shard_outbox_t shard_outbox_t;
typedef struct _shard_group_t shard_group_t;
typedef struct _shard_presence_t shard_presence_t;
typedef struct _shard_push_t shard_push_t;
typedef struct _shard_quota_t shard_quota_t;

/* Send count frames as one multipart message, without blocking. 0, or -1 with errno. */
typedef int(shard_send_fn)(void *arg, int count, const void *const *parts, const size_t *lens);

typedef struct {
    int id;                          /* --id */
    const char *data;                /* --data: RocksDB folder (created with its parents) */
    bool sync;                       /* --sync: fsync every group commit */
    int64_t gw_timeout_ms;           /* --gw-timeout */
    int presence_flap_ms;            /* --presence-flap-ms (0: SHARD_PRESENCE_FLAP_MS) */
    const char *vapid_key;           /* --vapid-key: PEM file, or NULL */
    const char *vapid_subject;       /* --vapid-subject, or NULL */
    shard_providers_cfg_t providers; /* --fcm-*, --apns-*: FCM and APNs (all NULL: off) */
    int max_groups_created;          /* --max-groups-created (0: the default, 1000) */
    int max_groups_member;           /* --max-groups-member (0: the default, 5000) */
    shard_guard_cfg_t guard;         /* --max-devices, --guess-*, --user-send-* (guard.h) */
    int disk_reserve_mib;            /* --disk-reserve-mib (diskspace.h); 0: off */
} shard_config_t;

/* The shard's context, opaque outside shard.c: the modules it owns reach each other
 * through the accessors below. */
typedef struct _shard_t shard_t;

/* Open the store (creating cfg->data and its parents) and build the modules; loads the
 * outbox. NULL on failure (logged). Caller owns; the config strings are not kept. */
shard_t *shard_new(const shard_config_t *cfg);
/* Commits nothing: pending sends are answered `unavailable` first, then everything is
 * closed (RocksDB cleanly). Idempotent; nulls *self_p. */
void shard_destroy(shard_t **self_p);
/* Rebuild every module that keeps stored records in memory (the group commit, roster,
 * conv, outbox, group, receipts, presence, quota) from the store, as at start, after the
 * group commit was flushed. For tests and fuzzing that change the store beneath
 * a running shard. 0, or -1 (the shard is unusable: destroy it). */
int shard_reload(shard_t *self, const shard_config_t *cfg);
/* Where to send; until set, output is dropped. */
void shard_set_sender(shard_t *self, shard_send_fn *fn, void *arg);

/* Handle one message from the router (docs/internals.md "The binary protocol"): addr the
 * address frame (the asking gateway's name; NULL when the message has none), data/len the
 * message frame; both borrowed. Malformed messages are logged at warn and dropped, or
 * answered bad_request when they carry a gateway and request id. Returns the number of
 * messages it stood for: a BATCH's entries (its requests were handled), else 1 — what a
 * drain counts against its bound. */
int shard_handle(shard_t *self, const void *addr, size_t alen, const void *data, size_t len);
/* End of a drain: write the pending group commit, then answer and push (commit.h). */
void shard_flush(shard_t *self);
/* Timers (every 500 ms): heartbeat to the router, location table expiry, outbox resend. */
void shard_tick(shard_t *self);

/* The shard's modules and settings, for the modules it owns: each lives as long as the
 * shard (built in shard_new in the order store, loc, push, guard, commit, roster, conv,
 * outbox, group, receipts, presence, quota; a module may use those before it at its
 * creation). Loop thread. */
int shard_id(const shard_t *self);
bool shard_sync(const shard_t *self);                /* --sync */
int64_t shard_gw_timeout_ms(const shard_t *self);    /* --gw-timeout */
int64_t shard_presence_flap_ms(const shard_t *self); /* --presence-flap-ms */
/* The slot table, or NULL before the first TABLE. */
const pl_slots_t *shard_slots(const shard_t *self);
shard_store_t *shard_store(shard_t *self);
shard_commit_t *shard_commit(shard_t *self); /* the group commit (commit.h) */
shard_roster_t *shard_roster(shard_t *self); /* conversation members (roster.h) */
shard_conv_t *shard_conv(shard_t *self);
shard_loc_t *shard_loc(shard_t *self);
shard_outbox_t *shard_outbox(shard_t *self); /* the conversation index's outbox */
shard_group_t *shard_group(shard_t *self);
shard_receipts_t *shard_receipts(shard_t *self);
shard_presence_t *shard_presence(shard_t *self);
shard_push_t *shard_push(shard_t *self);
shard_quota_t *shard_quota(shard_t *self);
shard_guard_t *shard_guard(shard_t *self);

/* Output to the router (internals.md "The binary protocol", encoded into self->out, one
 * reused buffer). reqid is the decimal form of the request's id. Failures (router
 * gone, high-water mark) are logged at debug and dropped: the gateway times out and
 * retries, devices recover events with sync. Return 0 or -1. */
int shard_reply(shard_t *self, const char *gw, const char *reqid, const char *status,
                const char *body);
/* Answer ok with body (a JSON object); takes ownership of body. */
int shard_reply_json(shard_t *self, const char *gw, const char *reqid, json_t *body);
/* EVT to gateway gw: to/to_len the recipients as a pl_list (pl_msg.h). */
int shard_event(shard_t *self, const char *gw, const void *to, size_t to_len, const char *skip,
                const char *event);
/* FWD{op}[key, payload] to the shard owning key. */
int shard_fwd(shard_t *self, pl_op_t op, const char *key, const char *payload);
int shard_snap(shard_t *self, const char *gw);
/* HB{shard=id, seq=table version, PL_MF_VERSION} (0: none yet; the router answers TABLE
 * when it differs). */
int shard_heartbeat(shard_t *self);
/* HELLO{shard=id, seq=table version, PL_MF_VERSION}: a heartbeat that also makes the
 * router send TABLE and replay every gateway's GWHB. */
int shard_hello(shard_t *self);

/* Whether the slot of "u:<name>" (kind 'u') or "c:<name>" (kind 'c') is this shard's in
 * its slot table. False without a table: a shard serves nothing before it knows it. */
bool shard_owns(shard_t *self, char kind, const char *name);
/* One stored key of a start-up scan; key and val are valid during the call only. */
typedef void(shard_scan_fn)(void *arg, const char *key, size_t klen, const char *val, size_t vlen);
/* The start-up scans (outbox, push requeue): calls fn for every stored key <S><tag>... of
 * the slots this shard holds, slot by slot in key order — the slots of its table, or
 * every slot while it knows no table yet (a first start or a converted folder: all the
 * data in its folder is its own). Slots with no key at all are skipped by one seek.
 * 0, or -1 on a storage error (fn may have been called for some keys). Loop thread. */
int shard_scan(shard_t *self, char tag, shard_scan_fn *fn, void *arg);
/* Answer `unavailable` ("slot N is not on shard M", or no table yet): what a shard says
 * instead of serving a slot it does not own. */
int shard_not_mine(shard_t *self, const char *gw, const char *reqid, char kind, const char *name);

/* Helpers for request payloads: the string member name of req, or NULL when absent or
 * not a string (or containing a NUL). */
const char *shard_json_str(json_t *req, const char *name);
/* The conv of req and, in *user, its user (a valid name); when either is missing or
 * invalid, answers bad_request ("missing user or conv") and returns NULL. */
const char *shard_req_user_conv(shard_t *self, const char *gw, const char *reqid, json_t *req,
                                const char **user);
/* Whether user is a member of conv (shard_roster_check; *m its members); when not, or when
 * the roster cannot tell, answers the error (shard_roster_why) and returns false. */
bool shard_req_member(shard_t *self, const char *gw, const char *reqid, const char *conv,
                      const char *user, shard_members_t *m);

#endif
