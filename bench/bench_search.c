/* bench_search — see bench_search.h. */
#include "bench_search.h"

void bench_search_init(bench_search_t *s, double start)
{
    *s = (bench_search_t){.next = start};
}

bool bench_search_next(bench_search_t *s, bool pass)
{
    double r = s->next;
    if (!pass && !s->retried) {
        s->retried = true; /* once more at this rate before it counts */
        return true;
    }
    if (pass)
        s->lo = r;
    else
        s->hi = r;
    s->steps++;
    if (!s->hi)
        r = r * 2;
    else if (s->hi - s->lo <= s->hi * 0.08 || (s->lo == 0 && s->steps > 6))
        return false;
    else
        r = s->lo ? (s->lo + s->hi) / 2 : s->hi / 2;
    r = (double)(long)r;
    if (r < 1)
        return false;
    s->next = r;
    return true;
}
