/* zmq-bench — load generator for the router + shards, without WebSocket.
 *
 * Speaks the internal protocol (docs/internals.md "The binary protocol") as a gateway
 * would: a DEALER socket connected to the router's front, HB every second, then REQ
 * `send` ops, and measures each REQ → REP (stored with the WAL, answered). Users are
 * created first with a placeholder hash (this tool never logs in). By default every user
 * is online here: a LOC full names them all (and answers every SNAP), so each send is
 * also delivered as an EVT to this tool (counted: "events") — the online path. --offline
 * sends no LOC: no recipient is online, so a send takes the offline (push) path.
 *
 * Closed loop (the default): P conversations, M sends each, W requests in flight.
 *   zmq-bench --router tcp://127.0.0.1:7100 --pairs 100 --messages 1000 --window 64 --size 100
 * Open loop: --rate R sends/s for --duration S, request k intended at t0 + k/R and
 * latency measured from that intended time (no coordinated omission); --max-rate
 * repeats open-loop steps of --step seconds at rising rates and reports the highest with
 * p99 < --p99-limit ms and nothing lost (no answer within --drain s) or failed.
 * Sends due in one loop turn go as one BATCH of requests, as a gateway stages its requests
 * per turn (the router re-batches them per shard); --no-batch sends each alone.
 * --tag N: the run tag in every user and conversation name (a<N>_<i>, b<N>_<i>, ...;
 * default: the clock's milliseconds mod 100,000), so that two runs against one cluster
 * make fresh users of the same name lengths (scripts/callgrind-send --diff).
 * --group G: conversations are groups of G users (G-1 members + the creator, created
 * with group_create) and every member sends in turn; default: DM pairs.
 * CURVE (the router requires it): --curve-secret FILE (a gateway key pair the router
 * admits, parley-keygen --role gateway) --router-key FILE (the router's public key file);
 * scripts/bench and the smoke test make them. The older --curve-server-key Z85
 * [--curve-public-key Z85 --curve-secret-key Z85] raw form stays for routers of another
 * deployment.
 *
 * Prints a table, then one JSON line (the last line) with log-linear histograms.
 * Exit 0 when every request was answered ok (in --max-rate: when the search ran),
 * 1 otherwise, 2 on bad arguments. Bounded: gives up after --deadline seconds. */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_hist.h"
#include "bench_search.h"
#include "pl_log.h"
#include "pl_msg.h"
#include "pl_ops.h"
#include "pl_curve.h"
#include "pl_time.h"
#include "pl_wire.h"

static struct {
    const char *router;
    long pairs, per, window, size, deadline_s, group;
    long tag; /* --tag: the run tag in user and conv names (0: from the clock) */
    double rate, duration, step, p99_limit, drain;
    bool max_rate, offline, no_batch;
    const char *curve_server, *curve_public, *curve_secret;
    const char *key_file, *router_key_file;
} o = {
    .router = "tcp://127.0.0.1:7100",
    .pairs = 50,
    .per = 200,
    .window = 32,
    .size = 100,
    .deadline_s = 120,
    .duration = 10,
    .step = 5,
    .p99_limit = 50,
    .drain = 2,
};

typedef struct {
    double rate, secs, per_s;
    long sent, answered, errors, lost, events;
    bench_hist_t lat;
} step_t;

static zsock_t *s_sock;
static long s_run;
static long s_reqid;
static char *s_big;
static size_t s_bigsz;
static char *s_text;
static pl_buf_t s_out;
static pl_buf_t s_staged; /* sends staged in this loop turn: a BATCH of REQ (s_flush) */
static uint64_t s_epoch, s_locseq;
static int64_t s_last_hb;
static char *s_loc;         /* {"full":[every user]} (online mode) */
static long s_events_total; /* EVTs received */

/* Send s_out; 0 or -1. */
static int s_send_out(void)
{
    if (s_out.failed)
        return -1;
    return zmq_send(zsock_resolve(s_sock), s_out.data, s_out.len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

/* Send the staged sends: one BATCH of requests, or the message alone when there is one.
 * 0 or -1. */
static int s_flush(void)
{
    uint64_t count = pl_batch_count(&s_staged);
    if (count == 0)
        return 0;
    pl_slice_t f = pl_batch_frame(&s_staged);
    int rc = zmq_send(zsock_resolve(s_sock), f.p, f.n, ZMQ_DONTWAIT) < 0 ? -1 : 0;
    pl_batch_begin_reqs(&s_staged);
    return rc;
}

/* s_out (a REQ) into this turn's batch, as a gateway stages its requests per loop turn
 * (gateway/zlink.c); plain when --no-batch or too large. 0 or -1. */
static int s_stage_out(void)
{
    if (o.no_batch || s_out.failed || s_out.len > PL_BATCH_ENTRY_MAX) {
        if (s_flush() != 0)
            return -1;
        return s_send_out();
    }
    if (!pl_batch_fits(&s_staged, s_out.len) && s_flush() != 0)
        return -1;
    if (s_staged.len < PL_BATCH_OVERHEAD && pl_batch_begin_reqs(&s_staged) != 0)
        return -1;
    return pl_batch_add(&s_staged, s_out.data, s_out.len);
}

/* Send one REQ{op, id}[key, payload]; returns 0 or -1. */
static int s_req(pl_op_t op, const char *key, long id, const char *payload)
{
    pl_hdr_t h = {.kind = PL_K_REQ, .op = (uint8_t)op, .id = (uint64_t)id};
    pl_msg_begin(&s_out, &h);
    pl_msg_field_str(&s_out, key);
    pl_msg_field_str(&s_out, payload);
    return s_send_out();
}

static void s_hb(void)
{
    pl_hdr_t h = {.kind = PL_K_HB, .id = s_epoch, .seq = s_locseq};
    pl_msg_begin(&s_out, &h);
    s_send_out();
    s_last_hb = zclock_mono();
}

/* LOC full with every user (online mode); shards ask for it again with SNAP. */
static void s_loc_full(void)
{
    if (o.offline || !s_loc)
        return;
    pl_hdr_t h = {.kind = PL_K_LOC, .flags = PL_MF_FULL, .id = s_epoch, .seq = ++s_locseq};
    pl_msg_begin(&s_out, &h);
    pl_msg_field_str(&s_out, s_loc);
    s_send_out();
}

/* Receive one message without blocking (wait: block up to the socket timeout) and
 * decode it. REP: returns 1 with its id and status; EVT counted; SNAP answered with LOC
 * full; HB every second. 0 for anything else, -1 when nothing came. */
/* The BATCH being read (moved out of the caller's keep into s_batch_msg, which its
 * entries point into): s_recv hands out one entry per call before it receives again. */
static pl_batch_it_t s_batch;
static zmq_msg_t s_batch_msg;
static bool s_in_batch, s_batch_init;

static int s_recv(bool wait, uint64_t *id, unsigned *status, pl_slice_t *body, zmq_msg_t *keep)
{
    if (zclock_mono() - s_last_hb >= 1000)
        s_hb(); /* shards drop a gateway silent for 10 s */
    pl_msg_t m;
    if (s_in_batch && pl_batch_next(&s_batch, &m) == 1)
        goto handle;
    s_in_batch = false;
    zmq_msg_close(keep);
    zmq_msg_init(keep);
    if (zmq_msg_recv(keep, zsock_resolve(s_sock), wait ? 0 : ZMQ_DONTWAIT) < 0)
        return -1;
    if (pl_msg_decode(zmq_msg_data(keep), zmq_msg_size(keep), &m) != 0)
        return 0;
    if (m.h.kind == PL_K_BATCH) { /* several REP/EVT of one shard turn */
        if (!s_batch_init)
            zmq_msg_init(&s_batch_msg);
        s_batch_init = true;
        if (zmq_msg_move(&s_batch_msg, keep) != 0 ||
            pl_msg_decode(zmq_msg_data(&s_batch_msg), zmq_msg_size(&s_batch_msg), &m) != 0 ||
            pl_batch_check(&m) != 0)
            return 0;
        pl_batch_iter(&s_batch, &m);
        s_in_batch = true;
        return 0; /* the entries come with the next calls */
    }
handle:
    if (m.h.kind == PL_K_EVT)
        s_events_total++;
    else if (m.h.kind == PL_K_SNAP)
        s_loc_full();
    else if (m.h.kind == PL_K_REP) {
        *id = m.h.id;
        *status = m.h.status;
        if (body)
            *body = m.f[0];
        return 1;
    }
    return 0;
}

/* Conversation c's key (c:<conv>) and the user sending message k into it. */
static void s_conv(long c, long k, char *key, size_t keysz, char *user, size_t usz)
{
    if (o.group > 1) {
        snprintf(key, keysz, "c:g:bench%ld_%ld", s_run, c);
        snprintf(user, usz, "z%ld_%ld", s_run, c * o.group + k % o.group);
    } else {
        snprintf(key, keysz, "c:dm:a%ld_%ld:b%ld_%ld", s_run, c, s_run, c);
        snprintf(user, usz, "%c%ld_%ld", k % 2 ? 'b' : 'a', s_run, c);
    }
}

/* Wait for n answers to setup requests; -1 when one is missing or not ok (strict). */
static int s_wait_answers(long n, bool strict)
{
    long bad = 0;
    zmq_msg_t keep;
    zmq_msg_init(&keep);
    for (long got = 0; got < n;) {
        uint64_t id;
        unsigned status;
        pl_slice_t body;
        int rc = s_recv(true, &id, &status, &body, &keep);
        if (rc < 0) {
            fprintf(stderr, "zmq-bench: no answer from the router\n");
            zmq_msg_close(&keep);
            return -1;
        }
        if (rc == 1) {
            got++;
            if (strict && status != PL_ST_OK && bad++ < 3)
                fprintf(stderr, "zmq-bench: setup request %llu: %s %.*s\n", (unsigned long long)id,
                        pl_status_name(status), (int)body.n, (const char *)body.p);
        }
    }
    zmq_msg_close(&keep);
    return bad ? -1 : 0;
}

static int s_setup(void)
{
    char payload[8192], key[96];
    long nconv = o.pairs, nusers = o.group > 1 ? o.pairs * o.group : o.pairs * 2;
    /* users; "conflict" answers (a rerun) are fine */
    for (long i = 0; i < nusers; i++) {
        if (o.group > 1)
            snprintf(key, sizeof key, "u:z%ld_%ld", s_run, i);
        else
            snprintf(key, sizeof key, "u:%c%ld_%ld", i % 2 ? 'b' : 'a', s_run, i / 2);
        snprintf(payload, sizeof payload,
                 "{\"op\":\"user_create\",\"user\":\"%s\",\"hash\":\"bench\"}", key + 2);
        if (s_req(PL_OP_USER_CREATE, key, ++s_reqid, payload))
            return -1;
        if (!o.offline) { /* the LOC full: every user online here */
            size_t have = s_loc ? strlen(s_loc) : 0, need = have + strlen(key) + 16;
            char *l = realloc(s_loc, need);
            if (!l)
                return -1;
            if (!have)
                snprintf(l, need, "{\"full\":[\"%s\"]}", key + 2);
            else
                snprintf(l + have - 2, need - have + 2, ",\"%s\"]}", key + 2);
            s_loc = l;
        }
    }
    if (s_wait_answers(nusers, false))
        return -1;
    s_loc_full();
    if (o.group <= 1)
        return 0;
    for (long c = 0; c < nconv; c++) {
        char user[64];
        s_conv(c, 0, key, sizeof key, user, sizeof user);
        int n = snprintf(payload, sizeof payload,
                         "{\"op\":\"group_create\",\"user\":\"%s\",\"device\":\"bench\","
                         "\"conv\":\"%s\",\"title\":\"bench\",\"members\":[",
                         user, key + 2);
        for (long m = 1; m < o.group; m++)
            n += snprintf(payload + n, sizeof payload - (size_t)n, "%s\"z%ld_%ld\"",
                          m > 1 ? "," : "", s_run, c * o.group + m);
        snprintf(payload + n, sizeof payload - (size_t)n, "]}");
        if (s_req(PL_OP_GROUP_CREATE, key, ++s_reqid, payload))
            return -1;
    }
    return s_wait_answers(nconv, true);
}

/* Send message k of this step as request id rid; 0 or -1. */
static int s_send_msg(long k, const char *tag, long rid)
{
    char key[96], user[64];
    s_conv(k % o.pairs, k / o.pairs, key, sizeof key, user, sizeof user);
    /* send's body is binary (pl_ops.def): user, device, conv, client_msg_id, text */
    char cmid[64];
    snprintf(cmid, sizeof cmid, "%s%ld", tag, k);
    pl_hdr_t h = {.kind = PL_K_REQ, .op = PL_OP_SEND, .id = (uint64_t)rid};
    pl_msg_begin(&s_out, &h);
    pl_msg_field_str(&s_out, key);
    size_t at = pl_msg_field_begin(&s_out);
    pl_msg_field_str(&s_out, user);
    pl_msg_field_str(&s_out, "bench");
    pl_msg_field_str(&s_out, key + 2);
    pl_msg_field_str(&s_out, cmid);
    pl_msg_field_str(&s_out, s_text);
    pl_msg_field_end(&s_out, at);
    return s_stage_out();
}

/* One step. Closed loop when rate <= 0 (P*M requests, window W), else open loop. */
static int s_step(double rate, step_t *out)
{
    memset(out, 0, sizeof *out);
    bench_hist_reset(&out->lat);
    out->rate = rate;
    long total = rate > 0 ? (long)(rate * o.duration) : o.pairs * o.per;
    if (total < 1)
        total = 1;
    int64_t *at = calloc((size_t)total, sizeof *at); /* intended/sent time, 0 = answered */
    if (!at)
        return -1;
    char tag[24];
    static long steps;
    if (o.tag > 0) /* the same every run (fresh users make fresh ids), one per step */
        snprintf(tag, sizeof tag, "m%ld_%ld_", o.tag % 100000, steps++ % 1000);
    else
        snprintf(tag, sizeof tag, "m%lx_", (unsigned long)(zclock_usecs() & 0xffffffff));
    long base = s_reqid + 1; /* request ids of this step: base + k */
    s_reqid += total;
    long next = 0;
    int64_t t0 = zclock_usecs() + 1000, stop_at = t0 + o.deadline_s * 1000000;
    int64_t send_end = rate > 0 ? t0 + (int64_t)(o.duration * 1e6) : 0, next_prog = t0 + 1000000;
    void *h = zsock_resolve(s_sock);
    long events0 = s_events_total;
    zmq_msg_t keep;
    zmq_msg_init(&keep);
    while (out->answered < total) {
        int64_t now = zclock_usecs();
        if (now >= stop_at || zsys_interrupted)
            break;
        if (rate > 0 && next >= total && now > send_end + (int64_t)(o.drain * 1e6))
            break;
        while (next < total) {
            int64_t due = rate > 0 ? t0 + (int64_t)((double)next * 1e6 / rate) : now;
            if (due > now || (rate <= 0 && next - out->answered >= o.window))
                break;
            at[next] = due ? due : 1;
            if (s_send_msg(next, tag, base + next)) {
                fprintf(stderr, "zmq-bench: send failed\n");
                break;
            }
            next++;
        }
        if (s_flush() != 0)
            fprintf(stderr, "zmq-bench: send failed\n");
        zmq_pollitem_t it = {h, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 1);
        for (;;) {
            uint64_t id;
            unsigned status;
            int rc = s_recv(false, &id, &status, NULL, &keep);
            if (rc < 0)
                break;
            if (rc == 1) {
                long k = (long)id - base;
                if (k >= 0 && k < total && at[k]) {
                    bench_hist_add(&out->lat, zclock_usecs() - at[k]);
                    at[k] = 0;
                    out->answered++;
                    if (status != PL_ST_OK)
                        out->errors++;
                }
            }
        }
        if (now >= next_prog && (rate > 0 || o.max_rate)) {
            fprintf(stderr, "zmq-bench: %5.1fs rate %.0f sent %ld answered %ld p99 %.2f ms\n",
                    (double)(now - t0) / 1e6, rate, next, out->answered,
                    bench_hist_pct(&out->lat, 0.99) / 1000);
            next_prog += 1000000;
        }
    }
    /* events of the last answers may trail them: wait up to 1 s for one per send */
    for (int64_t end = zclock_mono() + 1000;
         !o.offline && s_events_total - events0 < next && zclock_mono() < end;) {
        uint64_t id;
        unsigned status;
        zmq_pollitem_t it = {h, 0, ZMQ_POLLIN, 0};
        zmq_poll(&it, 1, 10);
        while (s_recv(false, &id, &status, NULL, &keep) >= 0)
            ;
    }
    zmq_msg_close(&keep);
    out->events = s_events_total - events0;
    out->sent = next;
    out->lost = next - out->answered;
    out->secs = (double)(zclock_usecs() - t0) / 1e6;
    double span = rate > 0 && o.duration < out->secs ? o.duration : out->secs;
    out->per_s = (double)out->answered / span;
    free(at);
    return 0;
}

static bool s_pass(const step_t *s)
{
    return s->lost == 0 && s->errors == 0 && s->answered > 0 &&
           bench_hist_pct(&s->lat, 0.99) / 1000 < o.p99_limit;
}

static void s_step_json(const step_t *s)
{
    printf("{\"rate\":%.0f,\"secs\":%.2f,\"sent\":%ld,\"answered\":%ld,\"errors\":%ld,"
           "\"lost\":%ld,\"events\":%ld,\"sends_per_s\":%.0f,\"latency_ms\":",
           s->rate, s->secs, s->sent, s->answered, s->errors, s->lost, s->events, s->per_s);
    bench_hist_json(&s->lat, stdout);
    printf("}");
}

static int s_usage(void)
{
    fprintf(stderr,
            "usage: zmq-bench [--router EP] [--pairs P] [--messages M] [--window W]\n"
            "  [--size BYTES] [--deadline S] [--group G] [--rate R] [--duration S]\n"
            "  [--max-rate] [--step S] [--p99-limit MS] [--drain S] [--offline] [--no-batch]\n"
            "  [--tag N]\n"
            "  --curve-secret GATEWAY_KEY_FILE --router-key ROUTER_KEY_FILE\n"
            "  (or [--curve-server-key Z85 [--curve-public-key Z85 --curve-secret-key Z85]])\n");
    return 2;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    pl_log_init("zmq-bench", PL_WARN);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--max-rate")) {
            o.max_rate = true;
            continue;
        }
        if (!strcmp(argv[i], "--offline")) {
            o.offline = true;
            continue;
        }
        if (!strcmp(argv[i], "--no-batch")) {
            o.no_batch = true;
            continue;
        }
        if (i + 1 >= argc)
            return s_usage();
        const char *a = argv[i], *v = argv[++i];
        if (!strcmp(a, "--router"))
            o.router = v;
        else if (!strcmp(a, "--pairs"))
            o.pairs = atol(v);
        else if (!strcmp(a, "--messages"))
            o.per = atol(v);
        else if (!strcmp(a, "--window"))
            o.window = atol(v);
        else if (!strcmp(a, "--size"))
            o.size = atol(v);
        else if (!strcmp(a, "--deadline"))
            o.deadline_s = atol(v);
        else if (!strcmp(a, "--group"))
            o.group = atol(v);
        else if (!strcmp(a, "--tag"))
            o.tag = atol(v);
        else if (!strcmp(a, "--rate"))
            o.rate = atof(v);
        else if (!strcmp(a, "--duration"))
            o.duration = atof(v);
        else if (!strcmp(a, "--step"))
            o.step = atof(v);
        else if (!strcmp(a, "--p99-limit"))
            o.p99_limit = atof(v);
        else if (!strcmp(a, "--drain"))
            o.drain = atof(v);
        else if (!strcmp(a, "--curve-secret"))
            o.key_file = v;
        else if (!strcmp(a, "--router-key"))
            o.router_key_file = v;
        else if (!strcmp(a, "--curve-server-key"))
            o.curve_server = v;
        else if (!strcmp(a, "--curve-public-key"))
            o.curve_public = v;
        else if (!strcmp(a, "--curve-secret-key"))
            o.curve_secret = v;
        else
            return s_usage();
    }
    if (o.pairs < 1 || o.per < 1 || o.window < 1 || o.size < 1 || o.size > 100000 || o.group == 1 ||
        o.group > 100 || o.rate < 0 || o.duration <= 0 || o.step <= 0 ||
        (o.max_rate && o.rate <= 0 && (o.rate = 1000) <= 0) || (!o.curve_public != !o.curve_secret))
        return s_usage();

    int rc = 1;
    s_text = malloc((size_t)o.size + 1);
    s_bigsz = (size_t)o.size + 512;
    s_big = malloc(s_bigsz);
    s_sock = zsock_new(ZMQ_DEALER);
    zcert_t *cert = NULL;
    if (!s_text || !s_big || !s_sock)
        goto done;
    memset(s_text, 'x', (size_t)o.size);
    s_text[o.size] = '\0';
    char ident[64];
    snprintf(ident, sizeof ident, "g/bench-%d", getpid());
    zsock_set_identity(s_sock, ident);
    char router_pub[41];
    if (o.key_file || o.router_key_file) {
        /* key files as parley-keygen writes them: the router names us by the key */
        if (!o.key_file || !o.router_key_file || !(cert = pl_curve_load_secret(o.key_file)) ||
            pl_curve_load_public(o.router_key_file, router_pub) != 0 ||
            pl_curve_client(s_sock, cert, router_pub) != 0) {
            fprintf(stderr, "zmq-bench: cannot use --curve-secret/--router-key\n");
            goto done;
        }
    } else if (o.curve_server) {
        /* CURVE client: the router's public key, and our pair (given or ephemeral) */
        if (o.curve_public) {
            zsock_set_curve_publickey(s_sock, o.curve_public);
            zsock_set_curve_secretkey(s_sock, o.curve_secret);
        } else {
            if (!(cert = zcert_new()))
                goto done;
            zcert_apply(cert, s_sock);
        }
        zsock_set_curve_serverkey(s_sock, o.curve_server);
    }
    if (pl_wire_setup(s_sock, false) || zsock_connect(s_sock, "%s", o.router))
        goto done;
    s_epoch = (uint64_t)pl_now_ms();
    s_hb();
    zsock_set_rcvtimeo(s_sock, 5000);
    s_run = o.tag > 0 ? o.tag : (long)(pl_now_ms() % 100000);
    if (s_setup())
        goto done;

    step_t steps[40];
    int n = 0, best = -1;
    if (!o.max_rate) {
        s_step(o.rate, &steps[n++]);
        best = 0;
        rc = steps[0].answered == steps[0].sent && !steps[0].errors && !steps[0].lost ? 0 : 1;
    } else {
        double dur = o.duration;
        bench_search_t bs;
        bench_search_init(&bs, o.rate);
        o.duration = o.step;
        while (n < 40 && !zsys_interrupted) {
            s_step(bs.next, &steps[n]);
            bool pass = s_pass(&steps[n]);
            if (pass)
                best = n;
            n++;
            if (!bench_search_next(&bs, pass))
                break;
            zclock_sleep(300); /* let the shards settle between steps (not a sync) */
        }
        o.duration = dur;
        rc = 0;
    }

    printf("zmq-bench: %ld %s, text %ld B, recipients %s, %s\n", o.pairs,
           o.group > 1 ? "groups" : "DM pairs", o.size, o.offline ? "offline" : "online",
           o.max_rate   ? "max-rate search"
           : o.rate > 0 ? "open loop"
                        : "closed loop");
    printf("%9s %8s %8s %6s %5s %8s %9s %9s %9s %9s %9s %9s\n", "offered/s", "sent", "answered",
           "lost", "err", "events", "sends/s", "p50 ms", "p90", "p99", "p999", "max");
    for (int i = 0; i < n; i++) {
        printf("%9.0f %8ld %8ld %6ld %5ld %8ld %9.0f ", steps[i].rate, steps[i].sent,
               steps[i].answered, steps[i].lost, steps[i].errors, steps[i].events, steps[i].per_s);
        bench_hist_row(&steps[i].lat, stdout);
        printf("%s\n", o.max_rate ? (s_pass(&steps[i]) ? "  pass" : "  FAIL") : "");
    }
    if (o.max_rate)
        printf("max rate with p99 < %.0f ms and nothing lost: %.0f sends/s\n", o.p99_limit,
               best >= 0 ? steps[best].rate : 0.0);
    printf("{\"tool\":\"zmq-bench\",\"mode\":\"%s\",\"online\":%s,\"pairs\":%ld,\"group\":%ld,"
           "\"messages_per_pair\":%ld,\"window\":%ld,\"text_bytes\":%ld,\"batch\":%s,"
           "\"max_rate\":",
           o.group > 1 ? "group" : "dm", o.offline ? "false" : "true", o.pairs, o.group, o.per,
           o.window, o.size, o.no_batch ? "false" : "true");
    if (o.max_rate)
        printf("%.0f", best >= 0 ? steps[best].rate : 0.0);
    else
        printf("null");
    /* the closed-loop fields of before, for scripts that read them */
    if (best >= 0)
        printf(",\"answered\":%ld,\"errors\":%ld,\"sends_per_s\":%.0f", steps[best].answered,
               steps[best].errors, steps[best].per_s);
    printf(",\"result\":");
    if (best >= 0)
        s_step_json(&steps[best]);
    else
        printf("null");
    printf(",\"steps\":[");
    for (int i = 0; i < n; i++) {
        printf(i ? "," : "");
        s_step_json(&steps[i]);
    }
    printf("]}\n");
done:
    zcert_destroy(&cert);
    zsock_destroy(&s_sock);
    free(s_big);
    free(s_text);
    free(s_loc);
    pl_buf_free(&s_out);
    pl_buf_free(&s_staged);
    return rc;
}
