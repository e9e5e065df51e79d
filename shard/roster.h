/* roster — who is in each conversation: a dm's two users from its id, a group's members
 * from the member cache over the stored `g`/`n` keys (docs/internals.md "Groups, read
 * receipts, typing"). Below conv.c, group.c and receipts.c, which ask it; only group.c
 * changes it (at staging, like the seq counter: a send staged after a membership change
 * sees the new member set). A module whose staged change failed drops the group
 * (shard_roster_forget): it is reloaded from disk on next use.
 *
 * Thread: the shard's loop thread. Owned by shard_t. */
#ifndef SHARD_ROSTER_H
#define SHARD_ROSTER_H
#include <stdbool.h>
#include <stddef.h>

#include "pl_text.h"
#include "store.h"

/* Most members a group may have at any time (creator included). */
#define SHARD_GROUP_MAX 100
/* Groups kept in the member cache at most; above this the cache is emptied when idle. */
#define SHARD_GROUP_CACHE_MAX 20000

typedef struct _shard_roster_t shard_roster_t;

/* The members of a conversation, as found by shard_roster_check. */
typedef struct {
    bool group;                                  /* a g: conversation (else a dm) */
    size_t n;                                    /* number of members */
    const char *list[SHARD_GROUP_MAX];           /* member names; valid until the next change */
    const char *title, *creator;                 /* groups only; same lifetime */
    char a[PL_USER_MAX + 1], b[PL_USER_MAX + 1]; /* dm: the two users (list points here) */
} shard_members_t;

/* The roster over store (borrowed, outlives it). NULL when out of memory. */
shard_roster_t *shard_roster_new(shard_store_t *store);
void shard_roster_destroy(shard_roster_t **self_p);

/* Members of conv (a dm or a group, loading the group into the cache on a miss), and,
 * when user is not NULL, check that user is one. Returns NULL and fills *out, or an error
 * code: bad_request (malformed id), not_found (no such group), forbidden (user is no
 * member), unavailable (storage error). */
const char *shard_roster_check(shard_roster_t *self, const char *conv, const char *user,
                               shard_members_t *out);
/* A human message for an error code of shard_roster_check. */
const char *shard_roster_why(const char *err);

/* Whether group conv exists (cache, else disk): 1, 0, or -1 on a storage error. */
int shard_roster_exists(shard_roster_t *self, const char *conv);
/* Cache a new group (group_create, at staging): members[0..n) (n <= SHARD_GROUP_MAX,
 * copied). 0 or -1 (out of memory: nothing cached). */
int shard_roster_create(shard_roster_t *self, const char *conv, const char *title,
                        const char *creator, const char *const *members, size_t n);
/* Add or remove user in a cached group (after shard_roster_check found it). Adding to a
 * full group or removing a non-member does nothing. */
void shard_roster_add(shard_roster_t *self, const char *conv, const char *user);
void shard_roster_remove(shard_roster_t *self, const char *conv, const char *user);
/* Drop conv from the cache (its staged change failed): reloaded from disk on next use. */
void shard_roster_forget(shard_roster_t *self, const char *conv);
/* Empty the cache when it holds more than SHARD_GROUP_CACHE_MAX groups; only when idle
 * (nothing staged: every entry is on disk). */
void shard_roster_trim(shard_roster_t *self, bool idle);

#endif
