/* shard_group_test — groups, membership, read receipts and typing (issue 3) against a real
 * RocksDB in a temporary folder, driven through shard_handle() with a capturing sender:
 * create/add/remove rules, the 100-member cap, recipients of later messages, read
 * monotonicity and events, typing rate limit, conv_info, the outbox nonce rule, the
 * per-gateway fan-out, a failed write and a restart. */
#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "group.h"
#include "outbox.h"
#include "pl_log.h"
#include "shard.h"
#include "test_support.h"
#include "store.h"

/* One request (printf-style payload), flushed; returns the status of its answer and the
 * parsed ok body in *body (NULL when not wanted or not ok). Other output stays queued. */
static const char *s_call(shard_t *shard, json_t **body, const char *fmt, ...)
{
    static char status[64];
    char payload[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(payload, sizeof(payload), fmt, ap);
    va_end(ap);
    tst_handle(shard, 4, "REQ", "g/gw1", "q", payload);
    shard_flush(shard);
    snprintf(status, sizeof(status), "(none)");
    if (body)
        *body = NULL;
    for (zmsg_t *m = zlist_first(tst_out); m; m = zlist_next(tst_out)) {
        zframe_t *f = zmsg_first(m);
        if (!zframe_streq(f, "REP"))
            continue;
        zmsg_next(m); /* gw */
        zmsg_next(m); /* reqid */
        char *st = zframe_strdup(zmsg_next(m));
        char *text = zframe_strdup(zmsg_next(m));
        snprintf(status, sizeof(status), "%s", st);
        if (body && strcmp(st, "ok") == 0)
            *body = json_loads(text, 0, NULL);
        free(st);
        free(text);
        zlist_remove(tst_out, m);
        zmsg_destroy(&m);
        break;
    }
    return status;
}

/* Drain the output: count EVTs and their recipients, check every event starts with
 * {"type":"<type>","conv":"<conv>", and note whether who is among the recipients and
 * whether any EVT carried a skip (type NULL: no prefix check). FWDs are counted. */
typedef struct {
    int evts, recipients, fwds;
    bool who_in, skipped, prefix_ok;
    int per_gw_max, per_gw_min;
} evts_t;

static evts_t s_evts(const char *type, const char *conv, const char *who)
{
    evts_t r = {.prefix_ok = true, .per_gw_min = 1 << 30};
    char prefix[256];
    snprintf(prefix, sizeof(prefix), "{\"type\":\"%s\",\"conv\":\"%s\",", type, conv);
    zmsg_t *m;
    while ((m = zlist_pop(tst_out))) {
        char *cmd = zmsg_popstr(m);
        if (strcmp(cmd, "FWD") == 0)
            r.fwds++;
        if (strcmp(cmd, "EVT") == 0) {
            char *gw = zmsg_popstr(m), *to = zmsg_popstr(m), *skip = zmsg_popstr(m),
                 *ev = zmsg_popstr(m);
            json_t *arr = json_loads(to, 0, NULL);
            int n = (int)json_array_size(arr);
            r.evts++;
            r.recipients += n;
            r.per_gw_max = n > r.per_gw_max ? n : r.per_gw_max;
            r.per_gw_min = n < r.per_gw_min ? n : r.per_gw_min;
            if (*skip)
                r.skipped = true;
            if (type && strncmp(ev, prefix, strlen(prefix)) != 0) {
                fprintf(stderr, "  event %.80s does not start with %s\n", ev, prefix);
                r.prefix_ok = false;
            }
            size_t i;
            json_t *v;
            json_array_foreach(arr, i, v) if (who && strcmp(json_string_value(v), who) == 0)
                r.who_in = true;
            json_decref(arr);
            free(gw);
            free(to);
            free(skip);
            free(ev);
        }
        free(cmd);
        zmsg_destroy(&m);
    }
    return r;
}

static const char *s_send(shard_t *shard, const char *user, const char *conv, const char *cmid)
{
    return s_call(shard, NULL,
                  "{\"op\":\"send\",\"user\":\"%s\",\"device\":\"phone\",\"conv\":\"%s\","
                  "\"client_msg_id\":\"%s\",\"text\":\"hi\"}",
                  user, conv, cmid);
}

static const char *s_change(shard_t *shard, const char *op, const char *user, const char *conv,
                            const char *target)
{
    return s_call(shard, NULL,
                  "{\"op\":\"%s\",\"user\":\"%s\",\"device\":\"phone\",\"conv\":\"%s\","
                  "\"target\":\"%s\"}",
                  op, user, conv, target);
}

/* conv_info of conv for user: the entry (caller decrefs) or NULL. */
static json_t *s_info(shard_t *shard, const char *user, const char *conv)
{
    json_t *body = NULL;
    const char *st = s_call(
        shard, &body, "{\"op\":\"conv_info\",\"user\":\"%s\",\"convs\":[\"%s\"]}", user, conv);
    json_t *entry = NULL;
    if (strcmp(st, "ok") == 0)
        entry = json_incref(json_array_get(json_object_get(body, "convs"), 0));
    json_decref(body);
    return entry;
}

static size_t s_nmembers(shard_t *shard, const char *user, const char *conv)
{
    json_t *e = s_info(shard, user, conv);
    size_t n = json_array_size(json_object_get(e, "members"));
    json_decref(e);
    return n;
}

#define G "g:AAAAAAAAAAAAAAAAAAAAAA"

static void test_groups(const char *dir)
{
    shard_t *shard = tst_open(dir, 100000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    /* users u00..u99: u00..u49 on gateway g/a, u50..u99 on g/b */
    char full_a[1024] = "{\"full\":[", full_b[1024] = "{\"full\":[", name[16];
    for (int i = 0; i < 100; i++) {
        char *buf = i < 50 ? full_a : full_b;
        snprintf(name, sizeof(name), "%s\"u%02d\"", (i % 50) ? "," : "", i);
        strcat(buf, name);
    }
    strcat(full_a, "]}");
    strcat(full_b, "]}");
    tst_handle(shard, 5, "LOC", "g/a", "ea", "1", full_a);
    tst_handle(shard, 5, "LOC", "g/b", "eb", "1", full_b);
    tst_out_clear();

    /* create: 98 others (+ repeats and the creator, ignored) -> 99 members */
    char members[1024] = "[\"u00\",\"u01\"";
    for (int i = 1; i <= 98; i++) {
        snprintf(name, sizeof(name), ",\"u%02d\"", i);
        strcat(members, name);
    }
    strcat(members, "]");
    json_t *body = NULL;
    const char *st = s_call(shard, &body,
                            "{\"op\":\"group_create\",\"user\":\"u00\",\"device\":\"phone\","
                            "\"conv\":\"" G "\",\"title\":\"team\",\"members\":%s}",
                            members);
    CHECK(strcmp(st, "ok") == 0);
    CHECK(body && strcmp(json_string_value(json_object_get(body, "conv")), G) == 0);
    json_decref(body);
    evts_t r = s_evts("member", G, "u01");
    CHECK(r.evts == 2 * 98 && r.recipients == 98 * 99 && r.prefix_ok && !r.skipped && r.who_in);
    CHECK(r.fwds == 99); /* idx_add per member, the creator included */
    CHECK(s_nmembers(shard, "u00", G) == 99);
    /* create again: the conversation exists */
    st = s_call(shard, NULL,
                "{\"op\":\"group_create\",\"user\":\"u05\",\"device\":\"phone\","
                "\"conv\":\"" G "\",\"title\":\"again\",\"members\":[]}");
    CHECK(strcmp(st, "bad_request") == 0);
    /* more than 99 others */
    char big[1200] = "[";
    for (int i = 1; i <= 100; i++) {
        snprintf(name, sizeof(name), "%s\"x%03d\"", i > 1 ? "," : "", i);
        strcat(big, name);
    }
    strcat(big, "]");
    st = s_call(shard, NULL,
                "{\"op\":\"group_create\",\"user\":\"u00\",\"device\":\"phone\","
                "\"conv\":\"g:big\",\"title\":\"t\",\"members\":%s}",
                big);
    CHECK(strcmp(st, "group_full") == 0); /* like group_add: the group would exceed 100 */
    CHECK(strcmp(s_send(shard, "u00", "g:big", "c0"), "not_found") == 0);
    /* ... but a malformed list stays bad_request, also when it is that long */
    big[strlen(big) - 1] = 0;
    strcat(big, ",\"Bad\"]");
    st = s_call(shard, NULL,
                "{\"op\":\"group_create\",\"user\":\"u00\",\"device\":\"phone\","
                "\"conv\":\"g:big\",\"title\":\"t\",\"members\":%s}",
                big);
    CHECK(strcmp(st, "bad_request") == 0);
    /* more than 1,000 entries (one name repeated) is bad_request; 1,000 are fine */
    char rep[8 * 1001 + 4] = "[";
    for (int i = 0; i < 1001; i++)
        strcat(rep, i ? ",\"u01\"" : "\"u01\"");
    strcat(rep, "]");
    st = s_call(shard, NULL,
                "{\"op\":\"group_create\",\"user\":\"u00\",\"device\":\"phone\","
                "\"conv\":\"g:big\",\"title\":\"t\",\"members\":%s}",
                rep);
    CHECK(strcmp(st, "bad_request") == 0);
    CHECK(strcmp(s_send(shard, "u00", "g:big", "c0"), "not_found") == 0);
    strcpy(rep + strlen(rep) - 7, "]"); /* drop the last ,"u01" */
    st = s_call(shard, NULL,
                "{\"op\":\"group_create\",\"user\":\"u00\",\"device\":\"phone\","
                "\"conv\":\"g:pair\",\"title\":\"t\",\"members\":%s}",
                rep);
    CHECK(strcmp(st, "ok") == 0);
    CHECK(s_nmembers(shard, "u00", "g:pair") == 2);
    st = s_call(shard, NULL,
                "{\"op\":\"group_create\",\"user\":\"u00\",\"device\":\"phone\","
                "\"conv\":\"g:bad\",\"title\":\"\",\"members\":[]}");
    CHECK(strcmp(st, "bad_request") == 0);
    tst_out_clear();

    /* add the 100th, then the 101st is refused and nothing changes */
    CHECK(strcmp(s_change(shard, "group_add", "u05", G, "u99"), "ok") == 0);
    r = s_evts("member", G, "u99");
    /* idx_add with the new member list to every member (presence contacts) */
    CHECK(r.evts == 2 && r.recipients == 100 && r.who_in && r.fwds == 100);
    CHECK(strcmp(s_change(shard, "group_add", "u05", G, "u99"), "ok") == 0); /* no-op */
    r = s_evts("member", G, NULL);
    CHECK(r.evts == 0 && r.fwds == 0);
    CHECK(strcmp(s_change(shard, "group_add", "u05", G, "extra"), "group_full") == 0);
    r = s_evts("member", G, NULL);
    CHECK(r.evts == 0 && r.fwds == 0);
    CHECK(s_nmembers(shard, "u00", G) == 100);
    CHECK(strcmp(s_change(shard, "group_add", "extra", G, "u01"), "forbidden") == 0);
    CHECK(strcmp(s_change(shard, "group_add", "u01", "g:nope", "u02"), "not_found") == 0);

    /* fan-out: one message to 100 members over 2 gateways = 2 EVTs of 50 */
    CHECK(strcmp(s_send(shard, "u00", G, "m1"), "ok") == 0);
    r = s_evts("msg", G, "u99");
    CHECK(r.evts == 2 && r.recipients == 100 && r.per_gw_min == 50 && r.per_gw_max == 50);
    CHECK(r.prefix_ok && r.skipped && r.who_in);

    /* removal rules */
    CHECK(strcmp(s_change(shard, "group_remove", "u07", G, "u08"), "forbidden") == 0);
    CHECK(strcmp(s_change(shard, "group_remove", "extra", G, "u08"), "forbidden") == 0);
    CHECK(strcmp(s_change(shard, "group_remove", "u00", "g:nope", "u08"), "not_found") == 0);
    CHECK(strcmp(s_change(shard, "group_remove", "u00", G, "extra"), "not_found") == 0);
    tst_out_clear();
    CHECK(strcmp(s_change(shard, "group_remove", "u09", G, "u09"), "ok") == 0); /* self */
    r = s_evts("member", G, "u09");
    /* told; idx_del to u09, idx_add with the new list to the 99 others */
    CHECK(r.evts == 2 && r.recipients == 100 && r.who_in && r.fwds == 100);
    CHECK(strcmp(s_change(shard, "group_remove", "u00", G, "u10"), "ok") == 0); /* creator */
    r = s_evts("member", G, "u10");
    CHECK(r.recipients == 99 && r.who_in);
    CHECK(s_nmembers(shard, "u00", G) == 98);
    /* removed members get no later message and are refused */
    CHECK(strcmp(s_send(shard, "u01", G, "m2"), "ok") == 0);
    r = s_evts("msg", G, "u09");
    CHECK(r.recipients == 98 && !r.who_in);
    CHECK(strcmp(s_call(shard, NULL,
                        "{\"op\":\"sync\",\"user\":\"u09\",\"conv\":\"" G "\",\"after\":0}"),
                 "forbidden") == 0);
    CHECK(strcmp(s_send(shard, "u10", G, "m3"), "forbidden") == 0);
    CHECK(s_info(shard, "u09", G) == NULL);
    /* an added member gets every later message, in the same batch too */
    tst_handle(shard, 4, "REQ", "g/gw1", "a",
               "{\"op\":\"group_add\",\"user\":\"u01\",\"device\":\"d\",\"conv\":\"" G
               "\",\"target\":\"u09\"}");
    CHECK(strcmp(s_send(shard, "u02", G, "m4"), "ok") == 0); /* flushes both */
    r = s_evts(NULL, G, NULL); /* member and msg events mixed: count by recipients */
    CHECK(r.evts == 4 && r.recipients == 99 + 99);
    CHECK(strcmp(s_call(shard, NULL,
                        "{\"op\":\"sync\",\"user\":\"u09\",\"conv\":\"" G "\",\"after\":0}"),
                 "ok") == 0);

    /* read receipts: monotonic, an event to every member (no skip) when it rises */
    tst_out_clear();
    const char *rd =
        "{\"op\":\"read\",\"user\":\"u01\",\"device\":\"phone\",\"conv\":\"" G "\",\"seq\":%d}";
    CHECK(strcmp(s_call(shard, NULL, rd, 1), "ok") == 0);
    r = s_evts("read", G, "u01");
    CHECK(r.evts == 2 && r.recipients == 99 && r.who_in && !r.skipped && r.prefix_ok);
    CHECK(strcmp(s_call(shard, NULL, rd, 1), "ok") == 0);
    CHECK(strcmp(s_call(shard, NULL, rd, 0), "ok") == 0);
    r = s_evts("read", G, NULL);
    CHECK(r.evts == 0);
    CHECK(strcmp(s_call(shard, NULL, rd, 99), "bad_request") == 0);
    CHECK(strcmp(s_call(shard, NULL, rd, -1), "bad_request") == 0);
    CHECK(strcmp(s_call(shard, NULL, rd, 3), "ok") == 0);
    r = s_evts("read", G, NULL);
    CHECK(r.evts == 2);
    CHECK(strcmp(s_call(shard, NULL,
                        "{\"op\":\"read\",\"user\":\"u10\",\"conv\":\"" G "\",\"seq\":1}"),
                 "forbidden") == 0);
    /* conv_info of a group */
    json_t *e = s_info(shard, "u01", G);
    CHECK(e && strcmp(json_string_value(json_object_get(e, "kind")), "group") == 0);
    CHECK(e && strcmp(json_string_value(json_object_get(e, "title")), "team") == 0);
    CHECK(json_integer_value(json_object_get(e, "last_seq")) == 3);
    CHECK(json_integer_value(json_object_get(e, "read_seq")) == 3);
    CHECK(json_array_size(json_object_get(e, "members")) == 99);
    CHECK(strcmp(json_string_value(json_array_get(json_object_get(e, "members"), 0)), "u00") == 0);
    json_decref(e);

    /* typing: every other member, once per second per (conv, user) */
    tst_out_clear();
    const char *ty = "{\"op\":\"typing\",\"user\":\"u01\",\"device\":\"phone\",\"conv\":\"" G "\"}";
    CHECK(strcmp(s_call(shard, NULL, ty), "ok") == 0);
    r = s_evts("typing", G, "u01");
    CHECK(r.evts == 2 && r.recipients == 98 && !r.who_in && !r.skipped && r.prefix_ok);
    CHECK(strcmp(s_call(shard, NULL, ty), "ok") == 0);
    r = s_evts("typing", G, NULL);
    CHECK(r.evts == 0);
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"typing\",\"user\":\"u02\",\"conv\":\"" G "\"}"),
                 "ok") == 0);
    r = s_evts("typing", G, NULL);
    CHECK(r.evts == 2);
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"typing\",\"user\":\"u10\",\"conv\":\"" G "\"}"),
                 "forbidden") == 0);
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"typing\",\"user\":\"u10\",\"conv\":\"g:zz\"}"),
                 "not_found") == 0);
    CHECK(strcmp(s_call(shard, NULL, "{\"op\":\"typing\",\"user\":\"u10\",\"conv\":\"zz\"}"),
                 "bad_request") == 0);
    zclock_sleep(1050);
    CHECK(strcmp(s_call(shard, NULL, ty), "ok") == 0);
    r = s_evts("typing", G, NULL);
    CHECK(r.evts == 2);

    /* dm: read and typing */
    const char *dm = "dm:u01:u60";
    CHECK(strcmp(s_call(shard, NULL,
                        "{\"op\":\"read\",\"user\":\"u01\",\"conv\":\"dm:u01:u60\",\"seq\":1}"),
                 "bad_request") == 0);
    CHECK(strcmp(s_send(shard, "u60", dm, "d1"), "ok") == 0);
    tst_out_clear();
    CHECK(strcmp(s_call(shard, NULL,
                        "{\"op\":\"read\",\"user\":\"u01\",\"conv\":\"dm:u01:u60\",\"seq\":1}"),
                 "ok") == 0);
    r = s_evts("read", dm, "u60");
    CHECK(r.evts == 2 && r.recipients == 2 && r.who_in);
    CHECK(
        strcmp(s_call(shard, NULL, "{\"op\":\"typing\",\"user\":\"u01\",\"conv\":\"dm:u01:u60\"}"),
               "ok") == 0);
    r = s_evts("typing", dm, "u60");
    CHECK(r.evts == 1 && r.recipients == 1 && r.who_in);
    CHECK(
        strcmp(s_call(shard, NULL, "{\"op\":\"typing\",\"user\":\"u02\",\"conv\":\"dm:u01:u60\"}"),
               "forbidden") == 0);
    e = s_info(shard, "u01", dm);
    CHECK(e && json_integer_value(json_object_get(e, "read_seq")) == 1);
    json_decref(e);

    /* a failed write changes nothing */
    tst_out_clear();
    shard_store_fail_writes(shard_store(shard), 1);
    CHECK(strcmp(s_change(shard, "group_add", "u01", G, "u10"), "unavailable") == 0);
    CHECK(s_nmembers(shard, "u00", G) == 99);
    CHECK(strcmp(s_send(shard, "u10", G, "m5"), "forbidden") == 0);
    tst_out_clear();
    shard_destroy(&shard);

    /* a restart reloads the group from disk */
    shard = tst_open(dir, 100000);
    CHECK(s_nmembers(shard, "u00", G) == 99);
    e = s_info(shard, "u01", G);
    CHECK(e && json_integer_value(json_object_get(e, "read_seq")) == 3);
    json_decref(e);
    CHECK(strcmp(s_send(shard, "u09", G, "m6"), "ok") == 0);
    tst_out_clear();
    shard_destroy(&shard);
}

/* Pop the next FWD to u:<user>; its payload (caller frees) or NULL. */
static char *s_fwd_to(const char *user)
{
    char key[64];
    snprintf(key, sizeof(key), "u:%s", user);
    for (zmsg_t *m = zlist_first(tst_out); m; m = zlist_next(tst_out)) {
        if (zmsg_size(m) == 3 && zframe_streq(zmsg_first(m), "FWD") &&
            zframe_streq(zmsg_next(m), key)) {
            char *payload = zframe_strdup(zmsg_next(m));
            zlist_remove(tst_out, m);
            zmsg_destroy(&m);
            return payload;
        }
    }
    return NULL;
}

/* The ack FWD the user's shard answered; its payload (caller frees) or NULL. */
static char *s_ack(void)
{
    for (zmsg_t *m = zlist_first(tst_out); m; m = zlist_next(tst_out)) {
        if (zmsg_size(m) == 3 && zframe_streq(zmsg_first(m), "FWD")) {
            zmsg_next(m);
            char *payload = zframe_strdup(zmsg_next(m));
            if (strstr(payload, "idx_ack")) {
                zlist_remove(tst_out, m);
                zmsg_destroy(&m);
                return payload;
            }
            free(payload);
        }
    }
    return NULL;
}

static int s_list(shard_t *shard, const char *user, const char *conv, const char **kind)
{
    static char k[16];
    json_t *body = NULL;
    int found = 0;
    /* a failed conv_list must not read as "not listed" */
    CHECK(strcmp(s_call(shard, &body, "{\"op\":\"conv_list\",\"user\":\"%s\"}", user), "ok") == 0);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(body, "convs"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "conv")), conv) == 0) {
            found = 1;
            snprintf(k, sizeof(k), "%s", json_string_value(json_object_get(v, "kind")));
        }
    }
    if (kind)
        *kind = k;
    json_decref(body);
    return found;
}

static void test_index(const char *dir)
{
    shard_t *shard = tst_open(dir, 100000);
    CHECK(shard != NULL);
    if (!shard)
        return;
    const char *g2 = "g:index";
    size_t base = shard_outbox_size(shard_outbox(shard));
    CHECK(
        strcmp(s_call(shard, NULL,
                      "{\"op\":\"group_create\",\"user\":\"ann\",\"device\":\"p\",\"conv\":\"%s\","
                      "\"title\":\"idx\",\"members\":[\"ben\"]}",
                      g2),
               "ok") == 0);
    CHECK(shard_outbox_size(shard_outbox(shard)) == base + 2);
    /* ben's idx_add reaches his shard (the same one here): listed as a group */
    char *add1 = s_fwd_to("ben");
    CHECK(add1 && strstr(add1, "\"op\":\"idx_add\"") && strstr(add1, "\"kind\":\"group\"") &&
          strstr(add1, "\"nonce\":\"") && strstr(add1, "\"members\":[\"ann\",\"ben\"]"));
    tst_handle(shard, 2, "FWD", add1);
    char *ack1 = s_ack();
    CHECK(ack1 && strstr(ack1, "\"nonce\":\""));
    const char *kind = NULL;
    CHECK(s_list(shard, "ben", g2, &kind) == 1 && strcmp(kind, "group") == 0);
    /* ben is removed before the ack of his idx_add arrives: the old ack must not cancel
     * the idx_del that replaced it */
    CHECK(strcmp(s_change(shard, "group_remove", "ben", g2, "ben"), "ok") == 0);
    char *del = s_fwd_to("ben");
    CHECK(del && strstr(del, "\"op\":\"idx_del\""));
    tst_handle(shard, 2, "FWD", ack1);
    CHECK(shard_outbox_size(shard_outbox(shard)) == base + 2); /* ann's and ben's idx_del */
    tst_handle(shard, 2, "FWD", del);
    CHECK(s_list(shard, "ben", g2, NULL) == 0);
    char *ack2 = s_ack();
    CHECK(ack2 && strstr(ack2, "idx_ack"));
    tst_handle(shard, 2, "FWD", ack2);
    CHECK(shard_outbox_size(shard_outbox(shard)) == base + 1);
    tst_handle(shard, 2, "FWD", ack2); /* a repeat: harmless */
    CHECK(shard_outbox_size(shard_outbox(shard)) == base + 1);
    /* idx_del of an unknown entry is idempotent and acknowledged */
    tst_out_clear();
    tst_handle(shard, 2, "FWD",
               "{\"op\":\"idx_del\",\"user\":\"zed\",\"conv\":\"g:none\",\"kind\":\"group\","
               "\"from\":\"c:g:none\",\"nonce\":\"1\"}");
    char *ack3 = s_ack();
    CHECK(ack3 && strstr(ack3, "\"nonce\":\"1\""));
    tst_handle(shard, 2, "FWD", "{\"op\":\"idx_del\",\"user\":\"Bad\"}");
    free(add1);
    free(ack1);
    free(del);
    free(ack2);
    free(ack3);
    /* malformed group requests never crash */
    const char *bad[] = {
        "{\"op\":\"group_create\"}",
        "{\"op\":\"group_create\",\"user\":\"ann\",\"conv\":\"g:x\",\"title\":\"t\",\"members\":7}",
        "{\"op\":\"group_create\",\"user\":\"ann\",\"conv\":\"g:x\",\"title\":\"t\","
        "\"members\":[1]}",
        "{\"op\":\"group_create\",\"user\":\"ann\",\"conv\":\"dm:a:b\",\"title\":\"t\","
        "\"members\":[]}",
        "{\"op\":\"group_add\",\"user\":\"ann\",\"conv\":\"g:index\"}",
        "{\"op\":\"group_add\",\"user\":\"ann\",\"conv\":\"dm:ann:ben\",\"target\":\"ben\"}",
        "{\"op\":\"group_remove\",\"user\":\"ann\",\"conv\":\"g:index\",\"target\":5}",
        "{\"op\":\"read\",\"user\":\"ann\",\"conv\":\"g:index\",\"seq\":\"1\"}",
        "{\"op\":\"read\",\"user\":\"ann\",\"conv\":\"g:index\"}",
        "{\"op\":\"typing\",\"user\":\"ann\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(strcmp(s_call(shard, NULL, "%s", bad[i]), "bad_request") == 0);
    tst_out_clear();
    shard_destroy(&shard);
}

int main(void)
{
    tst_init("shard_group_test");
    char path[256];
    snprintf(path, sizeof(path), "%s/shard", tst_dir());
    test_groups(path);
    test_index(path);
    return tst_finish("shard_group_test");
}
