/* bench_search — the max-rate search both load generators run (parley-wsbench and
 * zmq-bench --max-rate): double the offered rate while a step passes, then bisect
 * between the highest passing and the lowest failing rate until they are within 8 %
 * (or give up after 6 steps when nothing passed). The first step that fails is run once
 * more at the same rate before it counts: one stall of a shared machine (a compaction, a
 * neighbour) at the start must not decide the search, which never looks above a rate that
 * failed (only the first: re-running every failure would add a step per bisection and
 * take `scripts/bench --quick` past its 2 minutes). A plain value type; single-threaded. */
#ifndef BENCH_SEARCH_H
#define BENCH_SEARCH_H

#include <stdbool.h>

typedef struct {
    double next;  /* the rate of the next step */
    double lo;    /* highest rate that passed (0: none yet) */
    double hi;    /* lowest rate that failed (0: none yet) */
    int steps;    /* steps recorded (the retried failure once) */
    bool retried; /* a failure has been run again in this search */
} bench_search_t;

/* Start at rate start (> 0). */
void bench_search_init(bench_search_t *s, double start);

/* The step at s->next passed or not. Returns true if another step should run, at the
 * (whole-number) rate in s->next (the same rate again after a first failure there);
 * false when the search is over. */
bool bench_search_next(bench_search_t *s, bool pass);

#endif
