/* pl_check — the CHECK macro of the C unit tests (one definition for every test file).
 *
 * A file that includes this header defines its counters with PL_CHECK_COUNTERS; CHECK(cond)
 * counts a pass or prints file:line and the condition and counts a failure, without
 * stopping, so one run reports every failed check. main() returns s_failed != 0. */
#ifndef PL_CHECK_H
#define PL_CHECK_H
#include <stdio.h>

#define PL_CHECK_COUNTERS static int s_passed, s_failed

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            s_passed++;                                                                            \
        } else {                                                                                   \
            s_failed++;                                                                            \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* CHECK with a description (printf arguments), printed after FAIL file:line when cond is
 * false and after "ok" when the file's bool s_verbose is set: for tests whose checks read
 * as a list of behaviours (router_test, pl_loop_test). Same counters. */
#define PL_CHECK_MSG(cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            s_failed++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        } else {                                                                                   \
            s_passed++;                                                                            \
            if (s_verbose) {                                                                       \
                fprintf(stderr, "ok   ");                                                          \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fprintf(stderr, "\n");                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#endif
