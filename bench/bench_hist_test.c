/* bench_hist_test — the histogram's percentiles are within its stated 1.6 % error on
 * known distributions, max is exact, merge adds counts, an empty one reads 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_hist.h"
#include "bench_search.h"

static int s_fail;

static void s_near(const char *what, double got, double want)
{
    double err = want ? fabs(got - want) / want : fabs(got);
    if (err > 0.016) {
        fprintf(stderr, "FAIL %s: got %.1f, want %.1f\n", what, got, want);
        s_fail = 1;
    }
}

/* The max-rate search against a system that passes every rate <= limit, except that the
 * step number stall (if >= 0) fails whatever its rate: the rates it tries, in order, must
 * be want[0..n). */
static void s_search(const char *what, double start, double limit, int stall, const double *want,
                     int n)
{
    bench_search_t bs;
    bench_search_init(&bs, start);
    int i = 0;
    bool more = true;
    while (more && i < 40) {
        if (i >= n || bs.next != want[i]) {
            fprintf(stderr, "FAIL search %s: step %d at %.0f, want %.0f\n", what, i, bs.next,
                    i < n ? want[i] : -1.0);
            s_fail = 1;
            return;
        }
        more = bench_search_next(&bs, bs.next <= limit && i != stall);
        i++;
    }
    if (i != n) {
        fprintf(stderr, "FAIL search %s: %d steps, want %d\n", what, i, n);
        s_fail = 1;
    }
}

int main(void)
{
    /* doubles while passing, then bisects until within 8 %; the first failure is run again
     * once before it counts */
    static const double up[] = {1000, 2000, 4000, 8000, 8000, 6000, 5000, 5500, 5250};
    s_search("up", 1000, 5000, -1, up, 9);
    /* one stall (the first step fails once): the retry passes, the search goes on up; the
     * next failure counts at once */
    static const double stall[] = {1000, 1000, 2000, 4000, 8000, 6000, 5000, 5500, 5250};
    s_search("stall", 1000, 5000, 0, stall, 9);
    /* nothing passes: the first rate twice, then halving, gives up after 7 recorded steps */
    static const double down[] = {100, 100, 50, 25, 12, 6, 3, 1};
    s_search("down", 100, 0, -1, down, 8);

    static bench_hist_t h, g;
    bench_hist_reset(&h);
    if (bench_hist_pct(&h, 0.99) != 0 || h.n != 0) {
        fprintf(stderr, "FAIL empty\n");
        s_fail = 1;
    }
    /* 1..100000 µs, uniform */
    for (int v = 1; v <= 100000; v++)
        bench_hist_add(&h, v);
    s_near("p50", bench_hist_pct(&h, 0.5), 50000);
    s_near("p90", bench_hist_pct(&h, 0.9), 90000);
    s_near("p99", bench_hist_pct(&h, 0.99), 99000);
    s_near("p999", bench_hist_pct(&h, 0.999), 99900);
    if (h.max != 100000 || bench_hist_pct(&h, 1.0) != 100000) {
        fprintf(stderr, "FAIL max\n");
        s_fail = 1;
    }
    /* small values are exact */
    bench_hist_reset(&g);
    for (int i = 0; i < 100; i++)
        bench_hist_add(&g, i < 99 ? 7 : 5000000);
    s_near("p50 small", bench_hist_pct(&g, 0.5), 8); /* upper edge of the 7 µs bucket */
    s_near("p999 outlier", bench_hist_pct(&g, 0.999), 5000000);
    bench_hist_add(&g, -5); /* negative counts as 0 */
    bench_hist_merge(&g, &h);
    if (g.n != 100101 || g.max != 5000000) {
        fprintf(stderr, "FAIL merge n=%llu\n", (unsigned long long)g.n);
        s_fail = 1;
    }
    bench_hist_add(&g, (int64_t)1 << 50); /* beyond the range: last bucket, exact max */
    if (g.max != (uint64_t)1 << 50) {
        fprintf(stderr, "FAIL huge\n");
        s_fail = 1;
    }
    printf("bench_hist_test: %s\n", s_fail ? "FAILED" : "ok");
    return s_fail;
}
