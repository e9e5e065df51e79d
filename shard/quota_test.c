/* shard_quota_test — per-user group caps (group_quota) and conv_list paging against a
 * real RocksDB in a temporary folder, driven through shard_handle() with a capturing
 * sender: unknown users, the member cap with reservations, index entries turning
 * reservations into counted memberships, idx_del making room, a member of the group
 * needing no room, the created cap surviving a restart, paging in id order. */
#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota.h"
#include "shard.h"
#include "test_support.h"

/* One request; the status of its answer, the ok body in *body when wanted. */
static const char *s_call(shard_t *shard, json_t **body, const char *payload)
{
    static char status[64];
    tst_handle(shard, 4, "REQ", "g/gw1", "q", payload);
    shard_flush(shard);
    snprintf(status, sizeof(status), "(none)");
    if (body)
        *body = NULL;
    zmsg_t *m;
    while ((m = zlist_pop(tst_out))) {
        char *cmd = zmsg_popstr(m);
        if (strcmp(cmd, "REP") == 0) {
            free(zmsg_popstr(m)); /* gw */
            free(zmsg_popstr(m)); /* reqid */
            char *st = zmsg_popstr(m), *text = zmsg_popstr(m);
            snprintf(status, sizeof(status), "%s", st);
            if (body && strcmp(st, "ok") == 0)
                *body = json_loads(text, 0, NULL);
            free(st);
            free(text);
        }
        free(cmd);
        zmsg_destroy(&m);
    }
    return status;
}

static void s_idx(shard_t *shard, const char *op, const char *user, const char *conv)
{
    char payload[256];
    snprintf(payload, sizeof(payload),
             "{\"op\":\"%s\",\"user\":\"%s\",\"conv\":\"%s\",\"kind\":\"%s\",\"from\":\"c:%s\"}",
             op, user, conv, strncmp(conv, "g:", 2) == 0 ? "group" : "dm", conv);
    tst_handle(shard, 2, "FWD", payload);
    tst_out_clear();
}

static shard_t *s_open(void)
{
    shard_config_t cfg = {.data = tst_dir(),
                          .gw_timeout_ms = 10000,
                          .max_groups_created = 2, /* created 2, member 3 */
                          .max_groups_member = 3};
    return tst_open_cfg(&cfg);
}

#define Q(user, create) "{\"op\":\"group_quota\",\"user\":\"" user "\",\"create\":" create "}"

int main(void)
{
    tst_init("quota_test");
    shard_t *shard = s_open();
    CHECK(shard != NULL);
    if (!shard)
        return tst_finish("quota_test");
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"user_create\",\"user\":\"ann\",\"hash\":\"h\"}"),
                 "ok") == 0);
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"user_create\",\"user\":\"ben\",\"hash\":\"h\"}"),
                 "ok") == 0);

    /* malformed, unknown user */
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"group_quota\",\"user\":\"ann\",\"create\":1}"),
                 "bad_request") == 0);
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"group_quota\",\"user\":\"A!\"}"), "bad_request") ==
          0);
    CHECK(strcmp(s_call(shard, NULL, Q("nobody", "false")), "not_found") == 0);

    /* member cap 3: three reservations, the fourth refused */
    for (int i = 0; i < 3; i++)
        CHECK(strcmp(s_call(shard, NULL, Q("ben", "false")), "ok") == 0);
    CHECK(strcmp(s_call(shard, NULL, Q("ben", "false")), "too_many") == 0);
    /* the index entries arrive: reservations become counted entries, still 3 */
    s_idx(shard, "idx_add", "ben", "g:AAAAAAAAAAAAAAAAAAAAA1");
    s_idx(shard, "idx_add", "ben", "g:AAAAAAAAAAAAAAAAAAAAA2");
    s_idx(shard, "idx_add", "ben", "g:AAAAAAAAAAAAAAAAAAAAA3");
    s_idx(shard, "idx_add", "ben", "g:AAAAAAAAAAAAAAAAAAAAA3"); /* repeated: counted once */
    s_idx(shard, "idx_add", "ben", "dm:ann:ben");               /* dms do not count */
    CHECK(strcmp(s_call(shard, NULL, Q("ben", "false")), "too_many") == 0);
    /* a group ben is in already needs no room */
    CHECK(strcmp(s_call(shard, NULL,
                        "{\"op\":\"group_quota\",\"user\":\"ben\",\"create\":false,"
                        "\"conv\":\"g:AAAAAAAAAAAAAAAAAAAAA2\"}"),
                 "ok") == 0);
    /* leaving one makes room for exactly one */
    s_idx(shard, "idx_del", "ben", "g:AAAAAAAAAAAAAAAAAAAAA1");
    s_idx(shard, "idx_del", "ben", "g:AAAAAAAAAAAAAAAAAAAAA1"); /* repeated: once */
    CHECK(strcmp(s_call(shard, NULL, Q("ben", "false")), "ok") == 0);
    CHECK(strcmp(s_call(shard, NULL, Q("ben", "false")), "too_many") == 0);
    /* reservations lapse after 10 s */
    shard_quota_tick(shard_quota(shard), INT64_MAX);
    CHECK(strcmp(s_call(shard, NULL, Q("ben", "false")), "ok") == 0);

    /* created cap 2 (ann): counted at grant, persisted */
    CHECK(strcmp(s_call(shard, NULL, Q("ann", "true")), "ok") == 0);
    CHECK(strcmp(s_call(shard, NULL, Q("ann", "true")), "ok") == 0);
    CHECK(strcmp(s_call(shard, NULL, Q("ann", "true")), "too_many") == 0);
    shard_destroy(&shard);
    shard = s_open(); /* a restart: the created count is on disk, the entries recounted */
    CHECK(shard != NULL);
    if (!shard)
        return tst_finish("quota_test");
    CHECK(strcmp(s_call(shard, NULL, Q("ann", "true")), "too_many") == 0);
    CHECK(strcmp(s_call(shard, NULL, Q("ann", "false")), "ok") == 0); /* only the member cap */
    CHECK(strcmp(s_call(shard, NULL, Q("ben", "false")), "ok") == 0); /* 2 entries + 1 */
    CHECK(strcmp(s_call(shard, NULL, Q("ben", "false")), "too_many") == 0);

    /* conv_list paging: ben has dm:ann:ben, g:..2, g:..3 in id order */
    json_t *b = NULL;
    CHECK(strcmp(s_call(shard, &b, "{\"op\":\"conv_list\",\"user\":\"ben\",\"limit\":2}"), "ok") ==
          0);
    CHECK(json_array_size(json_object_get(b, "convs")) == 2);
    CHECK(json_is_true(json_object_get(b, "more")));
    CHECK(strcmp(json_string_value(
                     json_object_get(json_array_get(json_object_get(b, "convs"), 1), "conv")),
                 "g:AAAAAAAAAAAAAAAAAAAAA2") == 0);
    json_decref(b);
    CHECK(strcmp(s_call(shard, &b,
                        "{\"op\":\"conv_list\",\"user\":\"ben\",\"limit\":2,"
                        "\"after\":\"g:AAAAAAAAAAAAAAAAAAAAA2\"}"),
                 "ok") == 0);
    CHECK(json_array_size(json_object_get(b, "convs")) == 1);
    CHECK(json_is_false(json_object_get(b, "more")));
    json_decref(b);
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"conv_list\",\"user\":\"ben\",\"limit\":0}"),
                 "bad_request") == 0);
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"conv_list\",\"user\":\"ben\",\"after\":3}"),
                 "bad_request") == 0);
    shard_destroy(&shard);
    return tst_finish("quota_test");
}
