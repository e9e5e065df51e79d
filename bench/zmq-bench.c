/* zmq-bench — load generator for the router + shards, without WebSocket.
 *
 * Speaks the internal protocol (docs/internals.md) as a gateway would: a DEALER socket
 * with a gateway's CURVE key (--curve-secret, admitted by the router; --router-key the
 * router's public key file) connected to the router's front, HB, then REQ `send` ops for P
 * dm conversations, keeping W requests in flight, and measures each REQ → REP time.
 * Users are created first with a placeholder hash (this tool never logs in).
 *
 *   zmq-bench --router tcp://127.0.0.1:7100 --curve-secret var/keys/gw-1_secret \
 *             --router-key var/keys/router --pairs 100 --messages 1000 --window 64 --size 100
 *
 * Prints one JSON line: sends/s and latency percentiles (ms). Bounded: P*M requests, and
 * it gives up after --deadline seconds. */
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_curve.h"
#include "pl_log.h"
#include "pl_time.h"
#include "pl_wire.h"

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double s_pct(double *v, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t)(p * (double)n);
    return v[i >= n ? n - 1 : i];
}

/* Send one REQ; returns 0 or -1. */
static int s_req(zsock_t *s, const char *key, long id, const char *payload)
{
    char rid[24];
    snprintf(rid, sizeof rid, "%ld", id);
    return pl_wire_sendv(s, "REQ", key, rid, payload, NULL);
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    pl_log_init("zmq-bench", PL_WARN);
    const char *router = "tcp://127.0.0.1:7100", *secret = NULL, *router_key = NULL;
    long pairs = 50, per = 200, window = 32, size = 100, deadline_s = 120;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--router"))
            router = argv[i + 1];
        else if (!strcmp(argv[i], "--pairs"))
            pairs = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--messages"))
            per = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--window"))
            window = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--size"))
            size = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--deadline"))
            deadline_s = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--curve-secret"))
            secret = argv[i + 1];
        else if (!strcmp(argv[i], "--router-key"))
            router_key = argv[i + 1];
        else
            secret = NULL, router_key = NULL, pairs = 0;
    }
    if (pairs < 1 || per < 1 || window < 1 || size < 1 || size > 100000 || !secret || !router_key) {
        fprintf(stderr, "usage: zmq-bench --curve-secret GATEWAY_KEY --router-key ROUTER_KEY "
                        "[--router EP] [--pairs P] [--messages M] [--window W] [--size BYTES] "
                        "[--deadline S]\n");
        return 2;
    }
    char server_key[41];
    zcert_t *cert = pl_curve_load_secret(secret);
    if (!cert || pl_curve_load_public(router_key, server_key) != 0) {
        zcert_destroy(&cert);
        return 1;
    }

    int rc = 1;
    long total = pairs * per;
    double *lat = calloc((size_t)total, sizeof *lat);
    int64_t *sent_at = calloc((size_t)total + 1, sizeof *sent_at);
    char *text = malloc((size_t)size + 1);
    zsock_t *s = zsock_new(ZMQ_DEALER);
    if (!lat || !sent_at || !text || !s)
        goto done;
    memset(text, 'x', (size_t)size);
    text[size] = '\0';
    if (pl_wire_setup(s, false) || pl_curve_client(s, cert, server_key) ||
        zsock_connect(s, "%s", router))
        goto done;
    char epoch[24];
    snprintf(epoch, sizeof epoch, "%lld", (long long)pl_now_ms());
    pl_wire_sendv(s, "HB", epoch, "0", NULL);
    zsock_set_rcvtimeo(s, 5000);

    /* Users: a<run>_<i> and b<run>_<i>; "conflict" answers (a rerun) are fine. */
    long run = (long)(pl_now_ms() % 100000);
    char payload[512], key[96];
    long id = 0, answered = 0;
    for (long i = 0; i < pairs; i++) {
        for (int k = 0; k < 2; k++) {
            snprintf(key, sizeof key, "u:%c%ld_%ld", k ? 'b' : 'a', run, i);
            snprintf(payload, sizeof payload,
                     "{\"op\":\"user_create\",\"user\":\"%s\",\"hash\":\"bench\"}", key + 2);
            if (s_req(s, key, ++id, payload))
                goto done;
        }
    }
    while (answered < id) {
        zmsg_t *m = zmsg_recv(s);
        if (!m) {
            fprintf(stderr, "zmq-bench: no answer from the router\n");
            goto done;
        }
        char *verb = zmsg_popstr(m);
        if (verb && !strcmp(verb, "REP"))
            answered++;
        free(verb);
        zmsg_destroy(&m);
    }

    /* Sends: request number r (1..total) goes to pair (r-1) % pairs. */
    size_t plen = (size_t)size + 256;
    char *big = malloc(plen);
    if (!big)
        goto done;
    long next = 1, done_n = 0, errors = 0;
    int64_t t0 = pl_mono_ms(), stop_at = t0 + deadline_s * 1000;
    int64_t t0us = zclock_usecs();
    while (done_n < total && pl_mono_ms() < stop_at) {
        while (next <= total && next - 1 - done_n < window) {
            long p = (next - 1) % pairs;
            snprintf(key, sizeof key, "c:dm:a%ld_%ld:b%ld_%ld", run, p, run, p);
            snprintf(big, plen,
                     "{\"op\":\"send\",\"user\":\"a%ld_%ld\",\"device\":\"bench\",\"conv\":\"%s\","
                     "\"client_msg_id\":\"m%ld\",\"text\":\"%s\"}",
                     run, p, key + 2, next, text);
            sent_at[next] = zclock_usecs();
            if (s_req(s, key, next, big)) {
                fprintf(stderr, "zmq-bench: send failed\n");
                goto done_big;
            }
            next++;
        }
        zmsg_t *m = zmsg_recv(s);
        if (!m)
            continue;
        char *verb = zmsg_popstr(m), *rid = zmsg_popstr(m), *status = zmsg_popstr(m);
        if (verb && rid && status && !strcmp(verb, "REP")) {
            long r = atol(rid);
            if (r >= 1 && r <= total) {
                lat[done_n++] = (double)(zclock_usecs() - sent_at[r]) / 1000.0;
                if (strcmp(status, "ok"))
                    errors++;
            }
        }
        free(verb);
        free(rid);
        free(status);
        zmsg_destroy(&m);
    }
    double secs = (double)(zclock_usecs() - t0us) / 1e6;
    qsort(lat, (size_t)done_n, sizeof *lat, s_cmp);
    printf("{\"pairs\":%ld,\"messages_per_pair\":%ld,\"window\":%ld,\"text_bytes\":%ld,"
           "\"answered\":%ld,\"errors\":%ld,\"sends_per_s\":%.0f,"
           "\"ms\":{\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,\"max\":%.3f}}\n",
           pairs, per, window, size, done_n, errors, done_n / secs,
           s_pct(lat, (size_t)done_n, 0.50), s_pct(lat, (size_t)done_n, 0.95),
           s_pct(lat, (size_t)done_n, 0.99), done_n ? lat[done_n - 1] : 0.0);
    rc = done_n == total && errors == 0 ? 0 : 1;
done_big:
    free(big);
done:
    zsock_destroy(&s);
    zcert_destroy(&cert);
    free(text);
    free(sent_at);
    free(lat);
    return rc;
}
