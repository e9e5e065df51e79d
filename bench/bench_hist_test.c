/* bench_hist_test — the histogram's percentiles are within its stated 1.6 % error on
 * known distributions, max is exact, merge adds counts, an empty one reads 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_hist.h"

static int s_fail;

static void s_near(const char *what, double got, double want)
{
    double err = want ? fabs(got - want) / want : fabs(got);
    if (err > 0.016) {
        fprintf(stderr, "FAIL %s: got %.1f, want %.1f\n", what, got, want);
        s_fail = 1;
    }
}

int main(void)
{
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
