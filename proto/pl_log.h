/* pl_log — one line per notable event on stderr: "<ts> <LEVEL> <role>: <what>".
 * Thread: pl_log_init once from main before other threads start; pl_log from any thread
 * (one fprintf per line, stderr is unbuffered so lines do not interleave mid-line). */
#ifndef PL_LOG_H
#define PL_LOG_H

enum pl_level { PL_DEBUG = 0, PL_INFO = 1, PL_WARN = 2, PL_ERROR = 3 };

/* role is copied; level is the minimum printed (PARLEY_LOG=debug|info|warn|error overrides). */
void pl_log_init(const char *role, enum pl_level level);
void pl_log(enum pl_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define pl_debug(...) pl_log(PL_DEBUG, __VA_ARGS__)
#define pl_info(...) pl_log(PL_INFO, __VA_ARGS__)
#define pl_warn(...) pl_log(PL_WARN, __VA_ARGS__)
#define pl_error(...) pl_log(PL_ERROR, __VA_ARGS__)

#endif
