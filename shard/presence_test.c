/* shard_presence_test — presence on the user's shard (issue 4) against a real RocksDB,
 * driven through shard_handle() with a capturing sender: reports, events to dm partners
 * and group co-members only (one EVT per gateway), the 2 s flap window, a gateway lost
 * by the location table, presence_get with the sharing filter, last_seen across a
 * reopen, and malformed input. */
#include <czmq.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_time.h"
#include "presence.h"
#include "shard.h"
#include "test_support.h"

/* A REQ from gateway gw; returns the answer status, the ok body in *body (if wanted). */
static const char *s_req(shard_t *shard, const char *gw, json_t **body, const char *payload)
{
    static char status[64];
    tst_out_clear();
    tst_handle(shard, 4, "REQ", gw, "q", payload);
    shard_flush(shard);
    snprintf(status, sizeof(status), "(none)");
    if (body)
        *body = NULL;
    for (zmsg_t *m = zlist_first(tst_out); m; m = zlist_next(tst_out)) {
        zframe_t *f = zmsg_first(m);
        if (!zframe_streq(f, "REP"))
            continue;
        zmsg_next(m);
        zmsg_next(m);
        char *st = zframe_strdup(zmsg_next(m));
        char *text = zframe_strdup(zmsg_next(m));
        snprintf(status, sizeof(status), "%s", st);
        if (body && strcmp(st, "ok") == 0)
            *body = json_loads(text, 0, NULL);
        free(st);
        free(text);
    }
    return status;
}

/* Presence events in the output: how many EVTs, and the last one's fields. */
typedef struct {
    int evts;
    char gw[32], to[256], user[33];
    int online;           /* -1: none */
    json_int_t last_seen; /* -1: null */
} evts_t;

static evts_t s_evts(void)
{
    evts_t r = {0, "", "", "", -1, -1};
    for (zmsg_t *m = zlist_first(tst_out); m; m = zlist_next(tst_out)) {
        if (!zframe_streq(zmsg_first(m), "EVT"))
            continue;
        char *gw = zframe_strdup(zmsg_next(m));
        char *to = zframe_strdup(zmsg_next(m));
        zmsg_next(m); /* skip */
        char *ev = zframe_strdup(zmsg_next(m));
        json_t *j = json_loads(ev, 0, NULL);
        if (strcmp(json_string_value(json_object_get(j, "type")), "presence") == 0) {
            r.evts++;
            snprintf(r.gw, sizeof(r.gw), "%s", gw);
            snprintf(r.to, sizeof(r.to), "%s", to);
            snprintf(r.user, sizeof(r.user), "%s", json_string_value(json_object_get(j, "user")));
            r.online = json_is_true(json_object_get(j, "online"));
            json_t *ls = json_object_get(j, "last_seen");
            r.last_seen = json_is_integer(ls) ? json_integer_value(ls) : -1;
        }
        json_decref(j);
        free(gw);
        free(to);
        free(ev);
    }
    return r;
}

static void s_tick_after(shard_t *shard, int64_t ms)
{
    tst_out_clear();
    shard_presence_tick(shard_presence(shard), pl_mono_ms() + ms);
}

/* The presence_get answer of asker for users (a JSON array text), as a compact string. */
static char *s_get(shard_t *shard, const char *asker, const char *users)
{
    char payload[512];
    json_t *body = NULL;
    snprintf(payload, sizeof(payload), "{\"op\":\"presence_get\",\"user\":\"%s\",\"users\":%s}",
             asker, users);
    if (strcmp(s_req(shard, "g/gw1", &body, payload), "ok") != 0)
        return NULL;
    char *text = json_dumps(json_object_get(body, "presence"), JSON_COMPACT);
    json_decref(body);
    return text;
}

static void test_presence(const char *dir)
{
    shard_t *shard = tst_open(dir, 100000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    /* index: ann-bob share a dm; cat shares a group with ann; dan shares nothing */
    tst_handle(shard, 2, "FWD",
               "{\"op\":\"idx_add\",\"user\":\"ann\",\"conv\":\"dm:ann:bob\",\"kind\":\"dm\"}");
    tst_handle(shard, 2, "FWD",
               "{\"op\":\"idx_add\",\"user\":\"bob\",\"conv\":\"dm:ann:bob\",\"kind\":\"dm\"}");
    tst_handle(shard, 2, "FWD",
               "{\"op\":\"idx_add\",\"user\":\"cat\",\"conv\":\"g:team\",\"kind\":\"group\","
               "\"members\":[\"ann\",\"cat\"]}");
    tst_handle(shard, 2, "FWD",
               "{\"op\":\"idx_add\",\"user\":\"ann\",\"conv\":\"g:team\",\"kind\":\"group\","
               "\"members\":[\"ann\",\"cat\"]}");
    /* where devices are: ann and dan on gw1 */
    tst_handle(shard, 5, "LOC", "g/gw1", "e1", "1", "{\"full\":[\"ann\",\"dan\"]}");

    /* bob comes online on gw2: one event, to ann on gw1 */
    CHECK(strcmp(s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"online\":[\"bob\"]}"),
                 "ok") == 0);
    evts_t r = s_evts();
    CHECK(r.evts == 1 && strcmp(r.gw, "g/gw1") == 0 && strcmp(r.to, "[\"ann\"]") == 0);
    CHECK(strcmp(r.user, "bob") == 0 && r.online == 1 && r.last_seen > 0);
    CHECK(shard_presence_online(shard_presence(shard), "bob") == 1);
    /* a repeat (another device on gw2, or a full report) changes nothing */
    s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"full\":[\"bob\"]}");
    CHECK(s_evts().evts == 0);

    /* the query: strangers and unknown users left out, the asker kept, order kept */
    char *t = s_get(shard, "ann", "[\"bob\",\"dan\",\"nobody\",\"ann\",\"cat\"]");
    CHECK(t && strstr(t, "{\"user\":\"bob\",\"online\":true,\"last_seen\":") == t + 1);
    CHECK(t && strstr(t, "\"user\":\"ann\"") && strstr(t, "\"user\":\"cat\",\"online\":false") &&
          !strstr(t, "dan") && !strstr(t, "nobody"));
    free(t);
    t = s_get(shard, "dan", "[\"bob\",\"ann\",\"cat\"]");
    CHECK(t && strcmp(t, "[]") == 0);
    free(t);
    t = s_get(shard, "cat", "[\"ann\",\"bob\"]"); /* a co-member sees ann, not bob */
    CHECK(t && strstr(t, "\"ann\"") && !strstr(t, "bob"));
    free(t);

    /* offline: announced 2 s later with the reported last_seen */
    s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"offline\":[[\"bob\",12345]]}");
    CHECK(s_evts().evts == 0);
    s_tick_after(shard, 1000);
    CHECK(s_evts().evts == 0);
    CHECK(shard_presence_online(shard_presence(shard), "bob") == 1); /* pending: still online */
    s_tick_after(shard, SHARD_PRESENCE_FLAP_MS + 100);
    r = s_evts();
    CHECK(r.evts == 1 && r.online == 0 && r.last_seen == 12345 && strcmp(r.to, "[\"ann\"]") == 0);
    CHECK(shard_presence_online(shard_presence(shard), "bob") == 0);

    /* a flap: offline then online again within 2 s shows nothing */
    s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"online\":[\"bob\"]}");
    CHECK(s_evts().evts == 1);
    s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"offline\":[[\"bob\",20000]]}");
    s_req(shard, "g/gw1", NULL, "{\"op\":\"presence_report\",\"online\":[\"bob\"]}");
    CHECK(s_evts().evts == 0);
    s_tick_after(shard, SHARD_PRESENCE_FLAP_MS + 100);
    CHECK(s_evts().evts == 0);

    /* live on two gateways: losing one keeps bob online; a full report without bob and
     * the loss of the other gateway take him offline */
    s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"online\":[\"bob\"]}");
    s_req(shard, "g/gw1", NULL, "{\"op\":\"presence_report\",\"full\":[]}");
    s_tick_after(shard, SHARD_PRESENCE_FLAP_MS + 100);
    CHECK(s_evts().evts == 0 && shard_presence_online(shard_presence(shard), "bob") == 1);
    shard_presence_gw_gone(shard_presence(shard), "g/gw2", 99999);
    s_tick_after(shard, SHARD_PRESENCE_FLAP_MS + 100);
    r = s_evts();
    /* the full report left no time: "now" then, later than the gateway's 99999 */
    CHECK(r.evts == 1 && r.online == 0 && r.last_seen > 99999);
    char bob_seen[96];
    snprintf(bob_seen, sizeof(bob_seen), "{\"user\":\"bob\",\"online\":false,\"last_seen\":%lld}",
             (long long)r.last_seen);

    /* an offline the gateway saw 500 ms ago is due 2.5 s from now (2 s + 1 s report slack) */
    s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"online\":[\"bob\"]}");
    char off[160];
    snprintf(off, sizeof(off), "{\"op\":\"presence_report\",\"offline\":[[\"bob\",%lld,%lld]]}",
             (long long)r.last_seen, (long long)(pl_now_ms() - 500));
    s_req(shard, "g/gw2", NULL, off);
    s_tick_after(shard, SHARD_PRESENCE_FLAP_MS + 100);
    CHECK(s_evts().evts == 0);
    s_tick_after(shard, SHARD_PRESENCE_FLAP_MS + 600);
    CHECK(s_evts().evts == 1);

    /* a group co-member: cat online reaches ann */
    s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"online\":[\"cat\"]}");
    r = s_evts();
    CHECK(r.evts == 1 && strcmp(r.user, "cat") == 0 && strcmp(r.to, "[\"ann\"]") == 0);

    /* malformed input never crashes and changes nothing */
    CHECK(strcmp(s_req(shard, "g/gw2", NULL, "{\"op\":\"presence_report\",\"online\":5}"),
                 "bad_request") == 0);
    CHECK(strcmp(s_req(shard, "g/gw2", NULL,
                       "{\"op\":\"presence_report\",\"offline\":[[1,2],\"x\",[],[\"cat\"],"
                       "[\"Bad Name\",1]],\"online\":[1,null,\"Bad Name\",\"\"]}"),
                 "ok") == 0);
    CHECK(strcmp(s_req(shard, "g/gw1", NULL, "{\"op\":\"presence_get\",\"user\":\"ann\"}"),
                 "bad_request") == 0);
    CHECK(strcmp(s_req(shard, "g/gw1", NULL,
                       "{\"op\":\"presence_get\",\"user\":\"Bad\",\"users\":[]}"),
                 "bad_request") == 0);
    t = s_get(shard, "ann", "[1,null,\"Bad Name\",{}]");
    CHECK(t && strcmp(t, "[]") == 0);
    free(t);
    shard_destroy(&shard); /* cat still online: its last_seen is stored now */

    /* reopen: last_seen survived; nobody is online any more */
    shard = tst_open(dir, 100000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    t = s_get(shard, "ann", "[\"bob\",\"cat\"]");
    CHECK(t && strstr(t, bob_seen));
    CHECK(t && strstr(t, "\"user\":\"cat\",\"online\":false,\"last_seen\":1"));
    free(t);
    shard_destroy(&shard);
}

int main(void)
{
    tst_init("shard_presence_test");
    char path[256];
    snprintf(path, sizeof(path), "%s/shard", tst_dir());
    test_presence(path);
    return tst_finish("shard_presence_test");
}
