/* bench_hist — log-linear latency histogram shared by the load generators in bench/.
 *
 * Values are microseconds. Below 128 µs every value has its own bucket; above, each
 * power of two is split into 64 linear buckets (relative error < 1.6 %), up to 2^40 µs.
 * A histogram is a plain struct: zero it (bench_hist_reset) and it is empty; no
 * allocation, so it can live on the stack or inside another struct. Single-threaded. */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

#define BENCH_HIST_BUCKETS (128 + 34 * 64)

typedef struct {
    uint64_t n;   /* values recorded */
    uint64_t max; /* largest value, exact */
    double sum;   /* for the mean */
    uint64_t b[BENCH_HIST_BUCKETS];
} bench_hist_t;

/* Empty the histogram. */
void bench_hist_reset(bench_hist_t *h);

/* Record one value (µs); negative values count as 0, huge ones land in the last bucket. */
void bench_hist_add(bench_hist_t *h, int64_t us);

/* Add every value of `from` to `into`. */
void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from);

/* The value (µs, the bucket's upper edge, capped at max) below which a fraction q
 * (0..1) of the values lie; 0 when empty. */
double bench_hist_pct(const bench_hist_t *h, double q);

/* Print {"n":..,"p50":..,"p90":..,"p99":..,"p999":..,"max":..,"mean":..} in ms. */
void bench_hist_json(const bench_hist_t *h, FILE *out);

/* Print "p50 p90 p99 p999 max" in ms with 3 decimals, fixed width, for a table row. */
void bench_hist_row(const bench_hist_t *h, FILE *out);

#endif
