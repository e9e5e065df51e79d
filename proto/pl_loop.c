/* pl_loop — see pl_loop.h. */
#include "pl_loop.h"
#include "pl_time.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* A poll() at least every this many turns that skip it (see pl_loop_run). */
#define PL_LOOP_FAIR 8

typedef struct {
    zsock_t *sock; /* NULL: a slot freed by pl_loop_reader_end during this turn */
    void *handle;  /* zsock_resolve(sock) */
    int fd;        /* ZMQ_FD */
    pl_loop_reader_fn *fn;
    void *arg;
    int flags;
    bool ready; /* may have input: call fn */
    bool check; /* the fd may not show input that waits: ask ZMQ_EVENTS before sleeping */
} pl_reader_t;

typedef struct {
    int ms;
    int64_t due; /* pl_mono_ms */
    pl_loop_timer_fn *fn;
    void *arg;
} pl_timer_t;

struct _pl_loop_t {
    pl_reader_t readers[PL_LOOP_READERS];
    int nreaders; /* slots in use, freed ones included until s_compact */
    pl_timer_t timers[PL_LOOP_TIMERS];
    int ntimers;
    struct pollfd fds[PL_LOOP_READERS];
    int busy; /* turns in a row that began with a reader known ready */
    pl_loop_stats_t stats;
};

pl_loop_t *pl_loop_new(void)
{
    return calloc(1, sizeof(pl_loop_t));
}

void pl_loop_destroy(pl_loop_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

int pl_loop_reader(pl_loop_t *self, zsock_t *sock, pl_loop_reader_fn *fn, void *arg, int flags)
{
    if (!sock || !fn || self->nreaders == PL_LOOP_READERS)
        return -1;
    void *h = zsock_resolve(sock);
    int fd;
    size_t len = sizeof fd;
    if (!h || zmq_getsockopt(h, ZMQ_FD, &fd, &len) != 0)
        return -1;
    self->readers[self->nreaders++] = (pl_reader_t){
        .sock = sock, .handle = h, .fd = fd, .fn = fn, .arg = arg, .flags = flags, .ready = true};
    return 0;
}

void pl_loop_reader_end(pl_loop_t *self, zsock_t *sock)
{
    for (int i = 0; i < self->nreaders; i++)
        if (self->readers[i].sock == sock)
            self->readers[i].sock = NULL; /* the slot is reclaimed between turns */
}

int pl_loop_timer(pl_loop_t *self, int ms, pl_loop_timer_fn *fn, void *arg)
{
    if (ms <= 0 || !fn || self->ntimers == PL_LOOP_TIMERS)
        return -1;
    self->timers[self->ntimers++] =
        (pl_timer_t){.ms = ms, .due = pl_mono_ms() + ms, .fn = fn, .arg = arg};
    return 0;
}

pl_loop_stats_t pl_loop_stats(pl_loop_t *self)
{
    return self->stats;
}

/* Drop the slots freed during the turn, keeping the order of the rest. */
static void s_compact(pl_loop_t *self)
{
    int n = 0;
    for (int i = 0; i < self->nreaders; i++)
        if (self->readers[i].sock)
            self->readers[n++] = self->readers[i];
    self->nreaders = n;
}

/* A handler or timer ran (except, for skip, the reader whose handler drained its socket):
 * the shared sockets may have lost their fd's signal to a send. */
static void s_touched(pl_loop_t *self, const pl_reader_t *skip)
{
    for (int i = 0; i < self->nreaders; i++)
        if ((self->readers[i].flags & PL_LOOP_SHARED) && &self->readers[i] != skip)
            self->readers[i].check = true;
}

int pl_loop_run(pl_loop_t *self, volatile sig_atomic_t *stop)
{
    while (!stop || !*stop) {
        s_compact(self);
        /* Sleep until a socket signals or the next timer is due. When a reader is known
         * ready there is no sleep, and no poll() either but every PL_LOOP_FAIR turns, to
         * let the sockets nobody checks (not SHARED) in under a steady load. */
        int64_t now = pl_mono_ms();
        int timeout = -1;
        for (int i = 0; i < self->ntimers; i++) {
            int64_t left = self->timers[i].due - now;
            if (left < 0)
                left = 0;
            if (timeout < 0 || left < timeout)
                timeout = (int)left;
        }
        int n = self->nreaders;
        bool ready = false;
        for (int i = 0; i < n; i++) {
            self->fds[i] = (struct pollfd){.fd = self->readers[i].fd, .events = POLLIN};
            ready = ready || self->readers[i].ready;
        }
        int rc = 0;
        if (!ready || ++self->busy >= PL_LOOP_FAIR) {
            self->busy = 0;
            self->stats.wakes++;
            rc = poll(self->fds, (nfds_t)n, ready ? 0 : timeout);
            if (rc < 0 && errno != EINTR)
                return -1;
        }
        if (stop && *stop)
            break;
        for (int i = 0; rc > 0 && i < n; i++)
            if (self->fds[i].revents)
                self->readers[i].ready = true;
        /* Readers in registration order; one registered or ended by a handler takes
         * effect from the next turn on (n is this turn's count). */
        for (int i = 0; i < n; i++) {
            pl_reader_t *r = &self->readers[i];
            if (!r->sock || !r->ready)
                continue;
            r->ready = false;
            self->stats.runs++;
            int hrc = r->fn(self, r->sock, r->arg);
            if (hrc < 0)
                return 0;
            if (r->sock) /* not ended by its own handler */
                r->check = hrc != 1;
            s_touched(self, hrc == 1 ? r : NULL);
        }
        now = pl_mono_ms();
        for (int i = 0; i < self->ntimers; i++) {
            pl_timer_t *t = &self->timers[i];
            if (now < t->due)
                continue;
            t->due = now + t->ms;
            if (t->fn(self, t->arg) < 0)
                return 0;
            s_touched(self, NULL);
        }
        /* The edge-triggered part: a socket that a send (or a bounded drain) left with
         * input its fd no longer shows is found here, once per turn, not per message. */
        for (int i = 0; i < self->nreaders; i++) {
            pl_reader_t *r = &self->readers[i];
            if (!r->sock || !r->check || r->ready)
                continue;
            r->check = false;
            self->stats.checks++;
            int events = 0;
            size_t len = sizeof events;
            /* an error (ETERM: the context is ending) leaves the socket to its fd */
            if (zmq_getsockopt(r->handle, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN))
                r->ready = true;
        }
    }
    return 0;
}
