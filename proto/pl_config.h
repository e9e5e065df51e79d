/* pl_config — the INI configuration file of every role (docs/internals.md "Configuration").
 *
 * A role's keys are its long flags without "--": pl_args_new() reads the file named by
 * --config (found with the role's own getopt_long table, so --config=FILE works too),
 * turns the role's section ([gateway], [router] or [shard]) into long options and returns
 * an argument vector
 *
 *     argv[0]  --key=value ... (the file's keys, in file order)  argv[1..] (the command line)
 *
 * that the role parses with its usual getopt_long loop: a flag on the command line comes
 * later and so overrides the file, and every present and future long flag of the table
 * is a key without further code. A key of a flag without argument takes true/false
 * (yes/no, on/off, 1/0): true adds "--key", false adds nothing. A key may repeat (each
 * line adds one option, as a repeated flag would). Sections of the other roles are
 * skipped unread; any other section, a key the role does not have (and "config", "help"),
 * a syntax error, an empty value or a line longer than 199 characters is an error.
 *
 * Thread: main only, before other threads start (uses getopt's globals). */
#ifndef PL_CONFIG_H
#define PL_CONFIG_H

#include <getopt.h>

typedef struct pl_args pl_args_t;

/* Build the argument vector for a role named prog (for messages, e.g. "parley-shard"),
 * whose section is section and whose getopt_long table is opts (a "config" entry with
 * required_argument enables --config; without it the command line is copied as is).
 * Returns NULL on error, after printing one clear line "prog: FILE:LINE: what" (or
 * "prog: FILE: what") to stderr: exit with status 2. Does not keep argv's strings beyond
 * pointing at them: argv must outlive the result. optind is reset for the caller's loop. */
pl_args_t *pl_args_new(const char *prog, const char *section, int argc, char **argv,
                       const struct option *opts);
/* Free the vector and the strings it owns; nulls *self_p. Idempotent. */
void pl_args_destroy(pl_args_t **self_p);
int pl_args_argc(const pl_args_t *self);
/* NULL-terminated; getopt_long may permute it. Owned by self. */
char **pl_args_argv(const pl_args_t *self);
/* The config file, or NULL without --config. Owned by self (points into argv). */
const char *pl_args_file(const pl_args_t *self);
/* "FILE:LINE" if argument index came from the config file, else NULL (command line). */
const char *pl_args_origin(const pl_args_t *self, int index);
/* After getopt_long returned option name with value (NULL for none) and it is bad:
 * print "prog: FILE:LINE: bad value for name: value" (or "prog: --name value: bad
 * value") and the hint (may be NULL) on one line to stderr. Uses optind. */
void pl_args_bad_value(const pl_args_t *self, const char *name, const char *value,
                       const char *hint);
/* True if the option getopt_long just returned (at optind - 1 or optind - 2) came from
 * the command line: a repeatable flag's list given there replaces the file's. */
int pl_args_from_cmdline(const pl_args_t *self);

#endif
