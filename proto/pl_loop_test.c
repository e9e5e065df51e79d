/* pl_loop_test — self test of pl_loop (CTest unit_pl_loop): real ZeroMQ PAIR sockets on
 * inproc, driven through the cases the edge-triggered ZMQ_FD makes hard. Every wait is
 * bounded by a deadline timer that ends the loop and fails the check. */
#include "pl_check.h"
#include "pl_loop.h"
#include "pl_log.h"
#include "pl_time.h"

#include <stdio.h>
#include <string.h>

PL_CHECK_COUNTERS;
static bool s_verbose;
#undef CHECK
#define CHECK(cond, ...) PL_CHECK_MSG(cond, __VA_ARGS__)

typedef struct {
    zsock_t *a, *b; /* a PAIR pair: the test writes on a, the loop reads b */
    int got;        /* messages the reader received */
    int want;       /* the reader ends the loop once it has this many */
    int bound;      /* messages per handler call (its drain bound) */
    int ticks;
    bool expired;   /* the deadline timer ended the loop */
    bool poked;     /* the poke timer has run */
    zsock_t *spare; /* replaces b from inside b's handler (the shard's reconnect) */
    int spare_got;
} t_t;

static void s_pair(const char *name, zsock_t **a, zsock_t **b)
{
    char ep[64];
    snprintf(ep, sizeof ep, "@inproc://pl-loop-test-%s", name);
    *b = zsock_new_pair(ep); /* '@': bind */
    ep[0] = '>';
    *a = zsock_new_pair(ep);
}

static void s_put(zsock_t *a, int n)
{
    for (int i = 0; i < n; i++)
        zmq_send(zsock_resolve(a), "m", 1, ZMQ_DONTWAIT);
}

/* Receive up to bound messages; 1 when it met EAGAIN (drained), else 0. */
static int s_read(pl_loop_t *loop, zsock_t *sock, void *arg)
{
    t_t *t = arg;
    char buf[8];
    for (int i = 0; i < t->bound; i++) {
        if (zmq_recv(zsock_resolve(sock), buf, sizeof buf, ZMQ_DONTWAIT) < 0)
            return t->got >= t->want ? -1 : 1;
        t->got++;
    }
    return t->got >= t->want ? -1 : 0;
}

static int s_deadline(pl_loop_t *loop, void *arg)
{
    ((t_t *)arg)->expired = true;
    return -1;
}

static int s_tick(pl_loop_t *loop, void *arg)
{
    ((t_t *)arg)->ticks++;
    return ((t_t *)arg)->ticks >= 5 ? -1 : 0;
}

/* Puts a message for b, then asks ZMQ_EVENTS of b: that processes b's mailbox and so
 * eats the signal on b's ZMQ_FD, as a send from another handler would. */
static int s_poke(pl_loop_t *loop, void *arg)
{
    t_t *t = arg;
    if (t->poked)
        return 0;
    t->poked = true;
    s_put(t->a, 1);
    int ev = 0;
    size_t len = sizeof ev;
    zmq_getsockopt(zsock_resolve(t->b), ZMQ_EVENTS, &ev, &len);
    return 0;
}

static int s_spare_read(pl_loop_t *loop, zsock_t *sock, void *arg)
{
    t_t *t = arg;
    char buf[8];
    while (zmq_recv(zsock_resolve(sock), buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
        t->spare_got++;
    return t->spare_got >= 2 ? -1 : 1;
}

/* b's handler ends its own reader and registers the spare socket instead. */
static int s_swap(pl_loop_t *loop, zsock_t *sock, void *arg)
{
    t_t *t = arg;
    pl_loop_reader_end(loop, sock);
    pl_loop_reader(loop, t->spare, s_spare_read, t, 0);
    return 0;
}

static void s_case_timer(void)
{
    pl_loop_t *loop = pl_loop_new();
    t_t t = {0};
    int64_t t0 = pl_mono_ms();
    pl_loop_timer(loop, 20, s_tick, &t);
    pl_loop_timer(loop, 2000, s_deadline, &t);
    CHECK(pl_loop_run(loop, NULL) == 0, "timer: loop ended by the timer's -1");
    int64_t took = pl_mono_ms() - t0;
    CHECK(t.ticks == 5 && !t.expired, "timer: 5 ticks (%d)", t.ticks);
    CHECK(took >= 95 && took < 1500, "timer: 5 ticks of 20 ms took %lld ms", (long long)took);
    pl_loop_destroy(&loop);
    CHECK(loop == NULL, "destroy nulls the pointer");
    pl_loop_destroy(&loop);
}

/* 100 messages already waiting, a handler that takes 7 per call: all are read without
 * any further signal on the fd (each partial drain is followed by a check). */
static void s_case_bound(void)
{
    t_t t = {.want = 100, .bound = 7};
    s_pair("bound", &t.a, &t.b);
    s_put(t.a, 100);
    pl_loop_t *loop = pl_loop_new();
    pl_loop_reader(loop, t.b, s_read, &t, 0);
    pl_loop_timer(loop, 2000, s_deadline, &t);
    pl_loop_run(loop, NULL);
    CHECK(t.got == 100 && !t.expired, "bound: 100 of 100 read 7 at a time (%d)", t.got);
    pl_loop_stats_t st = pl_loop_stats(loop);
    CHECK(st.runs >= 15 && st.runs <= 16, "bound: 15 handler calls (%llu)",
          (unsigned long long)st.runs);
    pl_loop_destroy(&loop);
    zsock_destroy(&t.a);
    zsock_destroy(&t.b);
}

/* A message arrives and its signal is consumed by another operation on the socket
 * (the poke timer): with PL_LOOP_SHARED the loop's check finds it; without, it waits
 * (which shows the case is real: the fd alone never tells). */
static void s_case_edge(bool shared)
{
    t_t t = {.want = 1, .bound = 64};
    s_pair(shared ? "edge-shared" : "edge-plain", &t.a, &t.b);
    pl_loop_t *loop = pl_loop_new();
    pl_loop_reader(loop, t.b, s_read, &t, shared ? PL_LOOP_SHARED : 0);
    pl_loop_timer(loop, 30, s_poke, &t);
    pl_loop_timer(loop, shared ? 2000 : 300, s_deadline, &t);
    pl_loop_run(loop, NULL);
    if (shared)
        CHECK(t.got == 1 && !t.expired, "edge: a message whose signal was eaten is read");
    else
        CHECK(t.poked && t.got == 0 && t.expired,
              "edge: without PL_LOOP_SHARED the eaten signal leaves it unread (control)");
    pl_loop_destroy(&loop);
    zsock_destroy(&t.a);
    zsock_destroy(&t.b);
}

/* A handler ends its own reader and registers another socket, whose waiting input is
 * read at once (a new reader counts as ready). */
static void s_case_swap(void)
{
    t_t t = {0};
    s_pair("swap", &t.a, &t.b);
    zsock_t *sa;
    s_pair("swap-spare", &sa, &t.spare);
    s_put(sa, 2);
    s_put(t.a, 1);
    pl_loop_t *loop = pl_loop_new();
    pl_loop_reader(loop, t.b, s_swap, &t, 0);
    pl_loop_timer(loop, 2000, s_deadline, &t);
    pl_loop_run(loop, NULL);
    CHECK(t.spare_got == 2 && !t.expired, "swap: the new reader read what waited (%d)",
          t.spare_got);
    pl_loop_destroy(&loop);
    zsock_destroy(&sa);
    zsock_destroy(&t.spare);
    zsock_destroy(&t.a);
    zsock_destroy(&t.b);
}

/* *stop set (as a signal handler would) ends the loop at its next wake. */
static int s_set_stop(pl_loop_t *loop, void *arg)
{
    *(volatile sig_atomic_t *)arg = 1;
    return 0;
}

static void s_case_stop(void)
{
    volatile sig_atomic_t stop = 0;
    t_t t = {0};
    pl_loop_t *loop = pl_loop_new();
    pl_loop_timer(loop, 10, s_set_stop, (void *)&stop);
    pl_loop_timer(loop, 2000, s_deadline, &t);
    CHECK(pl_loop_run(loop, &stop) == 0 && stop && !t.expired, "stop: *stop ends the loop");
    CHECK(pl_loop_reader(loop, NULL, s_read, &t, 0) == -1, "reader: NULL socket refused");
    CHECK(pl_loop_timer(loop, 0, s_tick, &t) == -1, "timer: 0 ms refused");
    pl_loop_destroy(&loop);
}

int pl_loop_test(bool verbose)
{
    s_verbose = verbose;
    s_case_timer();
    s_case_bound();
    s_case_edge(true);
    s_case_edge(false);
    s_case_swap();
    s_case_stop();
    printf("pl_loop: %d checks, %d failed\n", s_passed + s_failed, s_failed);
    return s_failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    pl_log_init("pl_loop_test", PL_ERROR);
    int rc = pl_loop_test(argc > 1 && !strcmp(argv[1], "-v"));
    zsys_shutdown();
    return rc ? 1 : 0;
}
