/* pl_turn — per-loop-turn timing (see pl_turn.h). */
#include "pl_turn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl_log.h"

#define TURN_SLOTS 12

static struct {
    bool on;
    int64_t threshold_us;
    int64_t begin, mark, report_at;
    struct {
        const char *what;
        long n;
        int64_t us;
        bool timed;
    } slot[TURN_SLOTS];
    int nslots;
    long turns, slow;
    int64_t longest;
} s;

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void pl_turn_init(void)
{
    const char *v = getenv("PARLEY_TURN_LOG_MS");
    double ms = v ? atof(v) : 0;
    s.on = ms > 0;
    s.threshold_us = (int64_t)(ms * 1000);
    s.report_at = s_now_us() + 10000000;
    if (s.on)
        pl_info("turn timing on: turns of %.1f ms or more are logged", ms);
}

bool pl_turn_enabled(void)
{
    return s.on;
}

void pl_turn_begin(void)
{
    if (!s.on)
        return;
    s.begin = s.mark = s_now_us();
    s.nslots = 0;
}

static void s_add(const char *what, long n, bool timed)
{
    int64_t now = timed ? s_now_us() : 0;
    int i = 0;
    while (i < s.nslots && s.slot[i].what != what)
        i++;
    if (i == s.nslots) {
        if (s.nslots == TURN_SLOTS)
            return;
        s.slot[i].what = what;
        s.slot[i].n = 0;
        s.slot[i].us = 0;
        s.slot[i].timed = timed;
        s.nslots++;
    }
    s.slot[i].n += n;
    if (timed) {
        s.slot[i].us += now - s.mark;
        s.mark = now;
    }
}

void pl_turn_note(const char *what, long n)
{
    if (s.on)
        s_add(what, n, true);
}

void pl_turn_count(const char *what, long n)
{
    if (s.on)
        s_add(what, n, false);
}

void pl_turn_end_busy(int64_t busy_us)
{
    if (!s.on)
        return;
    s.turns++;
    if (busy_us > s.longest)
        s.longest = busy_us;
    if (busy_us >= s.threshold_us) {
        char line[512];
        int n = snprintf(line, sizeof line, "slow turn %.1f ms:", (double)busy_us / 1000);
        for (int i = 0; i < s.nslots && n < (int)sizeof line - 64; i++) {
            if (s.slot[i].timed)
                n +=
                    snprintf(line + n, sizeof line - (size_t)n, "%s %s %ld (%.1f ms)", i ? "," : "",
                             s.slot[i].what, s.slot[i].n, (double)s.slot[i].us / 1000);
            else
                n += snprintf(line + n, sizeof line - (size_t)n, "%s %s %ld", i ? "," : "",
                              s.slot[i].what, s.slot[i].n);
        }
        s.slow++;
        pl_warn("%s", line);
    }
    s.nslots = 0;
    int64_t now = s_now_us();
    if (now >= s.report_at) {
        pl_info("turns in the last 10 s: %ld, longest %.1f ms, %ld slow", s.turns,
                (double)s.longest / 1000, s.slow);
        s.turns = s.slow = 0;
        s.longest = 0;
        s.report_at = now + 10000000;
    }
}

void pl_turn_end(void)
{
    if (s.on)
        pl_turn_end_busy(s_now_us() - s.begin);
}
