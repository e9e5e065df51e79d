/* pl_time — wall clock (for message ts) and monotonic clock (for deadlines), in ms. */
#ifndef PL_TIME_H
#define PL_TIME_H
#include <stdint.h>

int64_t pl_now_ms(void);  /* CLOCK_REALTIME, ms since the Unix epoch */
int64_t pl_mono_ms(void); /* CLOCK_MONOTONIC, ms; only differences are meaningful */

#endif
