/* pl_loop — the event loop of the router and the shard: ZeroMQ readers and repeating
 * timers on one poll() over the sockets' ZMQ_FDs (docs/internals.md "The loops").
 *
 * Why not czmq's zloop: zloop calls zmq_poll over every registered socket at every
 * iteration, and zmq_poll asks ZMQ_EVENTS of each socket twice (before and after its
 * poll), each ask a getpid() and a poll() in libzmq's signaler: ≈ 12 of each per message
 * in the router (5 sockets). Here a wake costs the one poll(), the handler's receives,
 * and one ZMQ_EVENTS per socket that may have input the fd no longer shows (below).
 *
 * ZMQ_FD is edge-triggered (STYLE.md field notes): it signals when the socket's command
 * mailbox gets something, and any zmq_send/zmq_recv/ZMQ_EVENTS on the socket may consume
 * that signal. So the loop keeps, per reader, "ready" (call the handler) and "check"
 * (ask ZMQ_EVENTS before sleeping). After a handler ran, its own socket is checked unless
 * the handler returned 1 (it drained to EAGAIN and did nothing on the socket after), and
 * every PL_LOOP_SHARED socket (one other handlers or timers send on) is checked after any
 * handler or timer ran. A socket whose check shows ZMQ_POLLIN is ready: the loop polls
 * with timeout 0 and runs it again, so a handler that stops at its drain bound is called
 * again before the loop sleeps, after the other ready sockets and due timers (with no
 * poll() in between, but one every few such turns so that the other sockets get in).
 *
 * Thread: single-threaded; every call from the thread that runs the loop. Sockets and
 * args are borrowed: they must outlive their registration. */
#ifndef PL_LOOP_H
#define PL_LOOP_H
#include <czmq.h>
#include <signal.h>
#include <stdbool.h>

typedef struct _pl_loop_t pl_loop_t;

/* A reader: sock may have input. Receive with ZMQ_DONTWAIT (a bounded drain). Return -1
 * to end pl_loop_run, 1 when the last operation on sock was a receive that failed with
 * EAGAIN (the loop then trusts the fd for sock), 0 otherwise (the loop checks ZMQ_EVENTS
 * of sock before it sleeps). */
typedef int(pl_loop_reader_fn)(pl_loop_t *loop, zsock_t *sock, void *arg);
/* A timer fired. Return -1 to end pl_loop_run, else 0. */
typedef int(pl_loop_timer_fn)(pl_loop_t *loop, void *arg);

/* Flags of pl_loop_reader. */
#define PL_LOOP_SHARED 1 /* others send on sock: ZMQ_EVENTS checked after any turn */

/* A loop with no readers and no timers. NULL on OOM. Caller owns: pl_loop_destroy. */
pl_loop_t *pl_loop_new(void);
/* Free the loop (not the sockets). Idempotent; nulls *self_p. */
void pl_loop_destroy(pl_loop_t **self_p);

/* Watch sock (borrowed) and call fn when it may have input; it is called once at the
 * first turn of pl_loop_run or after registration (input may already wait). At most
 * PL_LOOP_READERS readers. May be called from a handler. Returns 0, or -1 (full, no fd). */
#define PL_LOOP_READERS 16
int pl_loop_reader(pl_loop_t *self, zsock_t *sock, pl_loop_reader_fn *fn, void *arg, int flags);
/* Stop watching sock (no-op if not watched). May be called from a handler, also sock's
 * own; call it before destroying the socket. */
void pl_loop_reader_end(pl_loop_t *self, zsock_t *sock);

/* Call fn every ms milliseconds (> 0), first ms from now, until the loop ends. At most
 * PL_LOOP_TIMERS. Returns 0 or -1 (full, bad interval). */
#define PL_LOOP_TIMERS 8
int pl_loop_timer(pl_loop_t *self, int ms, pl_loop_timer_fn *fn, void *arg);

/* Run until a handler or timer returns -1 or *stop (may be NULL) is non-zero: checked
 * at every turn, and a signal caught on this thread wakes poll() (EINTR). Returns 0,
 * or -1 if poll() fails otherwise (errno kept). Can be called again after it returned. */
int pl_loop_run(pl_loop_t *self, volatile sig_atomic_t *stop);

/* Counters since pl_loop_new (for tests and measurements): wakes = poll() calls,
 * checks = ZMQ_EVENTS asked before sleeping, runs = handler calls. */
typedef struct {
    uint64_t wakes, checks, runs;
} pl_loop_stats_t;
pl_loop_stats_t pl_loop_stats(pl_loop_t *self);

/* Self test: two PAIR pairs on inproc and a timer, driven through the loop's edge cases
 * (input left at the drain bound, input that arrives while a handler sends on the socket).
 * Returns 0 when every check passed. */
int pl_loop_test(bool verbose);

#endif
