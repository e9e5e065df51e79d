/* roster — conversation members, the group member cache. See roster.h. */
#include "roster.h"

#include <czmq.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "pl_err.h"
#include "pl_log.h"

typedef char name_t[PL_USER_MAX + 1];

typedef struct {
    char *title;
    name_t creator;
    size_t n;
    name_t members[SHARD_GROUP_MAX];
} group_t;

struct _shard_roster_t {
    shard_store_t *store; /* borrowed */
    zhashx_t *groups;     /* conv -> group_t (owned): committed state plus staged changes */
};

static void s_group_free(void **item)
{
    group_t *g = *item;
    if (g)
        free(g->title);
    free(g);
    *item = NULL;
}

shard_roster_t *shard_roster_new(shard_store_t *store)
{
    shard_roster_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->store = store;
    self->groups = zhashx_new();
    if (!self->groups) {
        shard_roster_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->groups, s_group_free);
    return self;
}

void shard_roster_destroy(shard_roster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->groups);
    free(*self_p);
    *self_p = NULL;
}

static bool s_has(const group_t *g, const char *user)
{
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->members[i], user) == 0)
            return true;
    return false;
}

/* The title/creator strings of a stored group's meta JSON; NULL when absent, not a
 * string or holding a NUL. */
static const char *s_str(json_t *meta, const char *name)
{
    json_t *v = json_object_get(meta, name);
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

/* The group conv (cache, else disk). 1 found (*out), 0 no such group, -1 storage error. */
static int s_load(shard_roster_t *self, const char *conv, group_t **out)
{
    shard_key_t key;
    char *val = NULL;
    *out = zhashx_lookup(self->groups, conv);
    if (*out)
        return 1;
    if (shard_key_group(&key, conv) != 0)
        return 0;
    int rc = shard_store_get(self->store, &key, &val, NULL);
    if (rc <= 0)
        return rc;
    json_t *meta = json_loads(val, 0, NULL);
    free(val);
    const char *title = meta ? s_str(meta, "title") : NULL;
    const char *creator = meta ? s_str(meta, "creator") : NULL;
    group_t *g = calloc(1, sizeof(*g));
    if (!g || !title || !creator || strlen(creator) > PL_USER_MAX || !(g->title = strdup(title))) {
        pl_error("%s: stored group is corrupt or out of memory", conv);
        json_decref(meta);
        s_group_free((void **)&g);
        return -1;
    }
    memcpy(g->creator, creator, strlen(creator) + 1);
    json_decref(meta);
    shard_key_member_prefix(&key, conv);
    shard_iter_t *it = shard_iter_new(self->store, &key);
    if (it)
        shard_iter_seek_first(it);
    for (; it && shard_iter_valid(it); shard_iter_next(it)) {
        size_t klen = 0;
        const char *k = shard_iter_key(it, &klen);
        size_t ulen = klen - key.len;
        if (g->n >= SHARD_GROUP_MAX || ulen >= sizeof(name_t)) {
            pl_error("%s: stored member list is corrupt", conv);
            break;
        }
        memcpy(g->members[g->n], k + key.len, ulen);
        g->members[g->n++][ulen] = '\0';
    }
    rc = it ? shard_iter_status(it) : -1;
    shard_iter_destroy(&it);
    if (rc != 0) {
        s_group_free((void **)&g);
        return -1;
    }
    zhashx_insert(self->groups, conv, g);
    *out = g;
    return 1;
}

const char *shard_roster_check(shard_roster_t *self, const char *conv, const char *user,
                               shard_members_t *out)
{
    group_t *g = NULL;
    out->group = false;
    out->title = out->creator = NULL;
    if (strncmp(conv, "dm:", 3) == 0) {
        if (!pl_dm_parse(conv, out->a, out->b))
            return PL_E_BAD_REQUEST;
        out->n = 2;
        out->list[0] = out->a;
        out->list[1] = out->b;
        if (user && strcmp(user, out->a) != 0 && strcmp(user, out->b) != 0)
            return PL_E_FORBIDDEN;
        return NULL;
    }
    out->n = 0;
    out->a[0] = out->b[0] = '\0';
    if (!pl_group_id_valid(conv))
        return PL_E_BAD_REQUEST;
    int rc = s_load(self, conv, &g);
    if (rc < 0)
        return PL_E_UNAVAILABLE;
    if (rc == 0)
        return PL_E_NOT_FOUND;
    out->group = true;
    out->n = g->n;
    for (size_t i = 0; i < g->n; i++)
        out->list[i] = g->members[i];
    out->title = g->title;
    out->creator = g->creator;
    if (user && !s_has(g, user))
        return PL_E_FORBIDDEN;
    return NULL;
}

const char *shard_roster_why(const char *err)
{
    if (strcmp(err, PL_E_NOT_FOUND) == 0)
        return "no such conversation";
    if (strcmp(err, PL_E_FORBIDDEN) == 0)
        return "not a member of this conversation";
    if (strcmp(err, PL_E_UNAVAILABLE) == 0)
        return "storage error";
    return "malformed conversation id";
}

int shard_roster_exists(shard_roster_t *self, const char *conv)
{
    group_t *g = NULL;
    return s_load(self, conv, &g);
}

int shard_roster_create(shard_roster_t *self, const char *conv, const char *title,
                        const char *creator, const char *const *members, size_t n)
{
    group_t *g = calloc(1, sizeof(*g));
    if (!g || !(g->title = strdup(title)) || n > SHARD_GROUP_MAX || strlen(creator) > PL_USER_MAX) {
        s_group_free((void **)&g);
        return -1;
    }
    memcpy(g->creator, creator, strlen(creator) + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(g->members[g->n++], sizeof(name_t), "%s", members[i]);
    zhashx_update(self->groups, conv, g);
    return 0;
}

void shard_roster_add(shard_roster_t *self, const char *conv, const char *user)
{
    group_t *g = zhashx_lookup(self->groups, conv);
    if (g && g->n < SHARD_GROUP_MAX && !s_has(g, user))
        snprintf(g->members[g->n++], sizeof(name_t), "%s", user);
}

void shard_roster_remove(shard_roster_t *self, const char *conv, const char *user)
{
    group_t *g = zhashx_lookup(self->groups, conv);
    for (size_t i = 0; g && i < g->n; i++)
        if (strcmp(g->members[i], user) == 0) {
            memmove(g->members[i], g->members[i + 1], (g->n - i - 1) * sizeof(name_t));
            g->n--;
            return;
        }
}

void shard_roster_forget(shard_roster_t *self, const char *conv)
{
    zhashx_delete(self->groups, conv);
}

void shard_roster_trim(shard_roster_t *self, bool idle)
{
    if (idle && zhashx_size(self->groups) > SHARD_GROUP_CACHE_MAX)
        zhashx_purge(self->groups);
}
