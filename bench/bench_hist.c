/* bench_hist — log-linear histogram (see bench_hist.h). */
#include "bench_hist.h"

#include <string.h>

static int s_index(uint64_t v)
{
    if (v < 128)
        return (int)v;
    int e = 63 - __builtin_clzll(v); /* 7.. */
    if (e > 40)
        return BENCH_HIST_BUCKETS - 1;
    int sub = (int)((v >> (e - 6)) & 63);
    return 128 + (e - 7) * 64 + sub;
}

/* Upper edge of bucket i (exclusive), in µs. */
static double s_upper(int i)
{
    if (i < 128)
        return (double)i + 1;
    int e = (i - 128) / 64 + 7, sub = (i - 128) % 64;
    return (double)((uint64_t)(64 + sub + 1) << (e - 6));
}

void bench_hist_reset(bench_hist_t *h)
{
    memset(h, 0, sizeof *h);
}

void bench_hist_add(bench_hist_t *h, int64_t us)
{
    uint64_t v = us < 0 ? 0 : (uint64_t)us;
    h->b[s_index(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
}

void bench_hist_merge(bench_hist_t *into, const bench_hist_t *from)
{
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
}

double bench_hist_pct(const bench_hist_t *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t seen = 0;
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > want) {
            double u = s_upper(i);
            return u > (double)h->max ? (double)h->max : u;
        }
    }
    return (double)h->max;
}

void bench_hist_json(const bench_hist_t *h, FILE *out)
{
    fprintf(out,
            "{\"n\":%llu,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
            "\"mean\":%.3f}",
            (unsigned long long)h->n, bench_hist_pct(h, 0.5) / 1000, bench_hist_pct(h, 0.9) / 1000,
            bench_hist_pct(h, 0.99) / 1000, bench_hist_pct(h, 0.999) / 1000, (double)h->max / 1000,
            h->n ? h->sum / (double)h->n / 1000 : 0.0);
}

void bench_hist_row(const bench_hist_t *h, FILE *out)
{
    fprintf(out, "%9.3f %9.3f %9.3f %9.3f %9.3f", bench_hist_pct(h, 0.5) / 1000,
            bench_hist_pct(h, 0.9) / 1000, bench_hist_pct(h, 0.99) / 1000,
            bench_hist_pct(h, 0.999) / 1000, (double)h->max / 1000);
}
