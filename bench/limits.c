/* limits — the ceilings of the parts Parley is built from, measured on this machine so
 * that every Parley figure can be printed beside the limit that bounds it
 * (scripts/bench, docs/benchmarks.md):
 *
 *  - zmq: a ZeroMQ ROUTER relaying 100-byte messages over tcp between two DEALERs, as the
 *    router relays gateway ↔ shard traffic: DEALER a sends [b, payload], the ROUTER
 *    forwards it to b, b answers [a, payload], the ROUTER forwards it back. --window
 *    round trips in flight; two relays per round trip. Three threads (relay, b, a).
 *  - rocksdb: WriteBatches of 3 puts of 100 bytes (a message, its idempotency key, the
 *    conversation head: the shape of one stored send) with the WAL; "nosync" writes one
 *    batch per message with sync=false, "sync64" gathers 64 messages into one batch
 *    written with sync=true (group commit).
 *  - kernel: what the machine charges for the two things every ZeroMQ hop and every
 *    WebSocket frame pays — a system call (getpid in a loop: the cheapest one; libzmq
 *    makes one per ZMQ_EVENTS check and per signal) and a thread wake-up (two threads
 *    bouncing an eventfd: one round trip is two wake-ups, as libzmq's mailbox signals
 *    between a socket's user and its I/O thread). On a virtual machine both can cost
 *    several times what they do on bare metal, and they bound a message's latency (a DM
 *    crosses ≈ 14 thread wake-ups end to end) and its CPU.
 * (The last limit, a bare libwebsockets echo server, is bench/lws-echo driven by
 * parley-wsbench --echo.)
 *
 *   limits [--seconds S] [--only zmq|rocksdb|kernel] [--dir DIR] [--window W] [--port P]
 *
 * Prints a table and one JSON line. Exit 0, 1 on a setup failure, 2 on bad arguments. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench_hist.h"

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double o_seconds = 3;
static int o_window = 64, o_port = 17390;

/* ---- ZeroMQ relay ---- */

typedef struct {
    void *ctx;
    char ep[64];
    volatile int stop;
} zrelay_t;

static void *s_relay(void *arg)
{
    zrelay_t *r = arg;
    void *s = zmq_socket(r->ctx, ZMQ_ROUTER);
    int one = 1, t = 100, zero = 0;
    zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &t, sizeof t);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(s, r->ep)) {
        fprintf(stderr, "limits: bind %s: %s\n", r->ep, zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    char from[64], to[64], body[4096];
    while (!r->stop) {
        int nf = zmq_recv(s, from, sizeof from, 0);
        if (nf < 0)
            continue;
        int nt = zmq_recv(s, to, sizeof to, 0);
        int nb = zmq_recv(s, body, sizeof body, 0);
        if (nt < 0 || nb < 0)
            continue;
        zmq_send(s, to, (size_t)nt, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(s, from, (size_t)nf, ZMQ_SNDMORE);
        zmq_send(s, body, (size_t)nb, 0);
    }
    zmq_close(s);
    return NULL;
}

static void *s_echo_peer(void *arg)
{
    zrelay_t *r = arg;
    void *s = zmq_socket(r->ctx, ZMQ_DEALER);
    int t = 100, zero = 0;
    zmq_setsockopt(s, ZMQ_ROUTING_ID, "b", 1);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &t, sizeof t);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(s, r->ep);
    char from[64], body[4096];
    while (!r->stop) {
        int nf = zmq_recv(s, from, sizeof from, 0);
        if (nf < 0)
            continue;
        int nb = zmq_recv(s, body, sizeof body, 0);
        if (nb < 0)
            continue;
        zmq_send(s, from, (size_t)nf, ZMQ_SNDMORE);
        zmq_send(s, body, (size_t)nb, 0);
    }
    zmq_close(s);
    return NULL;
}

static int s_zmq(double *rt_per_s, bench_hist_t *h)
{
    zrelay_t r = {.ctx = zmq_ctx_new()};
    snprintf(r.ep, sizeof r.ep, "tcp://127.0.0.1:%d", o_port);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, s_relay, &r);
    usleep(100000);
    pthread_create(&t2, NULL, s_echo_peer, &r);
    void *a = zmq_socket(r.ctx, ZMQ_DEALER);
    int t = 2000, zero = 0;
    zmq_setsockopt(a, ZMQ_ROUTING_ID, "a", 1);
    zmq_setsockopt(a, ZMQ_RCVTIMEO, &t, sizeof t);
    zmq_setsockopt(a, ZMQ_LINGER, &zero, sizeof zero);
    zmq_connect(a, r.ep);
    char body[100];
    memset(body, 'x', sizeof body);
    /* wait until the path works (b connected) */
    int rc = -1;
    for (int i = 0; i < 50; i++) {
        zmq_send(a, "b", 1, ZMQ_SNDMORE);
        zmq_send(a, body, sizeof body, 0);
        char buf[128];
        int tt = 100;
        zmq_setsockopt(a, ZMQ_RCVTIMEO, &tt, sizeof tt);
        if (zmq_recv(a, buf, sizeof buf, 0) >= 0 && zmq_recv(a, buf, sizeof buf, 0) >= 0) {
            rc = 0;
            break;
        }
    }
    zmq_setsockopt(a, ZMQ_RCVTIMEO, &t, sizeof t);
    /* drain late warm-up answers */
    int tt = 200;
    zmq_setsockopt(a, ZMQ_RCVTIMEO, &tt, sizeof tt);
    char buf[128];
    while (zmq_recv(a, buf, sizeof buf, 0) >= 0) /* [b] [body] pairs */
        ;
    zmq_setsockopt(a, ZMQ_RCVTIMEO, &t, sizeof t);
    long done = 0, sent = 0;
    int64_t t0 = s_now_us(), end = t0 + (int64_t)(o_seconds * 1e6);
    while (rc == 0 && s_now_us() < end) {
        while (sent - done < o_window) {
            int64_t now = s_now_us();
            memcpy(body, &now, sizeof now);
            zmq_send(a, "b", 1, ZMQ_SNDMORE);
            zmq_send(a, body, sizeof body, 0);
            sent++;
        }
        int n = zmq_recv(a, buf, sizeof buf, 0); /* the peer's id, then the body */
        if (n >= 0)
            n = zmq_recv(a, buf, sizeof buf, 0);
        if (n < (int)sizeof(int64_t)) {
            rc = -1;
            break;
        }
        int64_t then;
        memcpy(&then, buf, sizeof then);
        bench_hist_add(h, s_now_us() - then);
        done++;
    }
    double secs = (double)(s_now_us() - t0) / 1e6;
    *rt_per_s = (double)done / secs;
    r.stop = 1;
    zmq_close(a);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    zmq_ctx_term(r.ctx);
    return rc;
}

/* ---- RocksDB ---- */

static int s_rocks(const char *dir, int group, bool sync, double *msgs_per_s)
{
    char *err = NULL;
    rocksdb_options_t *opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opt, 1);
    rocksdb_t *db = rocksdb_open(opt, dir, &err);
    if (!db) {
        fprintf(stderr, "limits: rocksdb %s: %s\n", dir, err ? err : "?");
        free(err);
        rocksdb_options_destroy(opt);
        return -1;
    }
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, sync);
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    char val[100], key[48];
    memset(val, 'v', sizeof val);
    long n = 0;
    int rc = 0;
    int64_t t0 = s_now_us(), end = t0 + (int64_t)(o_seconds * 1e6);
    while (s_now_us() < end) {
        rocksdb_writebatch_clear(b);
        for (int g = 0; g < group; g++, n++) {
            int kl = snprintf(key, sizeof key, "m:c%08ld:%012ld", n % 1000, n);
            rocksdb_writebatch_put(b, key, (size_t)kl, val, sizeof val);
            kl = snprintf(key, sizeof key, "i:c%08ld:u:%012ld", n % 1000, n);
            rocksdb_writebatch_put(b, key, (size_t)kl, val, sizeof val);
            kl = snprintf(key, sizeof key, "h:c%08ld", n % 1000);
            rocksdb_writebatch_put(b, key, (size_t)kl, val, sizeof val);
        }
        rocksdb_write(db, wo, b, &err);
        if (err) {
            fprintf(stderr, "limits: rocksdb write: %s\n", err);
            free(err);
            rc = -1;
            break;
        }
    }
    *msgs_per_s = (double)n / ((double)(s_now_us() - t0) / 1e6);
    rocksdb_writebatch_destroy(b);
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(opt);
    return rc;
}

/* ---- kernel: a system call, a thread wake-up ---- */

static int s_efd_a = -1, s_efd_b = -1;
static volatile int s_pong_stop;

static void *s_pong(void *arg)
{
    (void)arg;
    uint64_t v;
    while (!s_pong_stop) {
        if (read(s_efd_a, &v, sizeof v) != sizeof v)
            break;
        v = 1;
        if (write(s_efd_b, &v, sizeof v) != sizeof v)
            break;
    }
    return NULL;
}

/* ns per getpid() system call, and µs per eventfd round trip between two threads (two
 * wake-ups), each over about a third of --seconds. 0 or -1. */
static int s_kernel(double *syscall_ns, double *wake_rt_us)
{
    int64_t t0 = s_now_us(), until = t0 + (int64_t)(o_seconds * 1e6 / 3);
    long n = 0;
    while (s_now_us() < until) {
        for (int i = 0; i < 1000; i++)
            (void)syscall(SYS_getpid);
        n += 1000;
    }
    *syscall_ns = (double)(s_now_us() - t0) * 1000.0 / (double)n;
    s_efd_a = eventfd(0, 0);
    s_efd_b = eventfd(0, 0);
    pthread_t t;
    if (s_efd_a < 0 || s_efd_b < 0 || pthread_create(&t, NULL, s_pong, NULL) != 0) {
        if (s_efd_a >= 0)
            close(s_efd_a);
        if (s_efd_b >= 0)
            close(s_efd_b);
        return -1;
    }
    t0 = s_now_us();
    until = t0 + (int64_t)(o_seconds * 1e6 / 3);
    n = 0;
    uint64_t v = 1;
    while (s_now_us() < until) {
        if (write(s_efd_a, &v, sizeof v) != sizeof v || read(s_efd_b, &v, sizeof v) != sizeof v)
            break;
        n++;
    }
    *wake_rt_us = n ? (double)(s_now_us() - t0) / (double)n : 0;
    s_pong_stop = 1;
    v = 1;
    if (write(s_efd_a, &v, sizeof v) != sizeof v)
        return -1;
    pthread_join(t, NULL);
    close(s_efd_a);
    close(s_efd_b);
    return n ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *only = NULL, *dir = "/tmp/parley-limits";
    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "usage: limits [--seconds S] [--only zmq|rocksdb|kernel] [--dir DIR] "
                            "[--window W] [--port P]\n");
            return 2;
        }
        if (!strcmp(argv[i], "--seconds"))
            o_seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--only"))
            only = argv[++i];
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[++i];
        else if (!strcmp(argv[i], "--window"))
            o_window = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--port"))
            o_port = atoi(argv[++i]);
        else {
            fprintf(stderr, "limits: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (o_seconds <= 0 || o_window < 1)
        return 2;
    int rc = 0;
    double rt = 0, nosync = 0, sync64 = 0, sc_ns = 0, wake_us = 0;
    bench_hist_t h;
    bench_hist_reset(&h);
    bool do_zmq = !only || !strcmp(only, "zmq"), do_rocks = !only || !strcmp(only, "rocksdb");
    bool do_kernel = !only || !strcmp(only, "kernel");
    if (do_kernel && s_kernel(&sc_ns, &wake_us)) {
        fprintf(stderr, "limits: kernel measurement failed\n");
        rc = 1;
    }
    if (do_zmq && s_zmq(&rt, &h)) {
        fprintf(stderr, "limits: zmq relay failed\n");
        rc = 1;
    }
    if (do_rocks) {
        char d1[512], d2[512];
        snprintf(d1, sizeof d1, "%s/nosync-%d", dir, getpid());
        snprintf(d2, sizeof d2, "%s/sync64-%d", dir, getpid());
        char mk[600];
        snprintf(mk, sizeof mk, "mkdir -p '%s'", dir);
        if (system(mk) != 0 || s_rocks(d1, 1, false, &nosync) || s_rocks(d2, 64, true, &sync64))
            rc = 1;
        char rm[1200];
        snprintf(rm, sizeof rm, "rm -rf '%s' '%s'", d1, d2);
        if (system(rm) != 0)
            rc = 1;
    }
    printf("%-44s %12s\n", "limit", "per second");
    if (do_zmq) {
        printf("%-44s %12.0f  (window %d, rtt ms p50/p90/p99/p999/max ",
               "zmq ROUTER relay, 100 B: round trips", rt, o_window);
        bench_hist_row(&h, stdout);
        printf(")\n%-44s %12.0f\n", "zmq ROUTER relay, 100 B: relays", rt * 2);
    }
    if (do_rocks) {
        printf("%-44s %12.0f\n", "rocksdb batch 3x100 B, WAL, no sync: msgs", nosync);
        printf("%-44s %12.0f\n", "rocksdb 64 msgs/batch, WAL, sync: msgs", sync64);
    }
    if (do_kernel) {
        printf("%-44s %12.0f  (%.0f ns each)\n", "system call (getpid)",
               sc_ns > 0 ? 1e9 / sc_ns : 0, sc_ns);
        printf("%-44s %12.0f  (%.1f us each)\n", "thread wake-up round trip (eventfd)",
               wake_us > 0 ? 1e6 / wake_us : 0, wake_us);
    }
    printf("{\"tool\":\"limits\",\"seconds\":%.1f,\"kernel\":{\"syscall_ns\":%.0f,"
           "\"wake_round_trip_us\":%.1f},\"zmq_relay\":{\"window\":%d,"
           "\"round_trips_per_s\":%.0f,\"relays_per_s\":%.0f,\"rtt_ms\":",
           o_seconds, sc_ns, wake_us, o_window, rt, rt * 2);
    bench_hist_json(&h, stdout);
    printf("},\"rocksdb\":{\"nosync_msgs_per_s\":%.0f,\"sync64_msgs_per_s\":%.0f}}\n", nosync,
           sync64);
    return rc;
}
