/* pl_config — INI file -> long options (pl_config.h). Parsing by libinih (Debian's
 * libinih-dev), which calls s_handler once per key; s_reader feeds it line by line so
 * that every message can name the line. */
#define _GNU_SOURCE /* asprintf */
#include "pl_config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PL_CONFIG_LINE_MAX 200 /* inih's INI_MAX_LINE: longer lines are an error */

struct pl_args {
    int argc, cap;
    char **argv;   /* cap + 1 entries, NULL-terminated */
    char **origin; /* per entry: "FILE:LINE" (owned) or NULL */
    char **owned;  /* per entry: the string if we allocated it, else NULL */
    const char *prog;
    const char *file;
};

/* The roles whose sections a file may have. */
static const char *const s_sections[] = {"gateway", "router", "shard"};

typedef struct {
    pl_args_t *args;
    const char *section;
    const struct option *opts;
    FILE *f;
    int line;        /* lines read so far = the line inih is handling */
    bool long_line;  /* s_reader found a line over PL_CONFIG_LINE_MAX */
    char error[256]; /* first error, without the "prog: FILE:LINE: " prefix */
    int error_line;
} parse_t;

/* Append one entry (str owned if own); origin copied if not NULL. -1 on OOM. */
static int s_push(pl_args_t *a, char *str, bool own, const char *origin)
{
    if (a->argc + 1 >= a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        char **v = realloc(a->argv, (size_t)(cap + 1) * sizeof *v);
        if (!v)
            return -1;
        a->argv = v;
        char **o = realloc(a->origin, (size_t)(cap + 1) * sizeof *o);
        if (!o)
            return -1;
        a->origin = o;
        char **w = realloc(a->owned, (size_t)(cap + 1) * sizeof *w);
        if (!w)
            return -1;
        a->owned = w;
        a->cap = cap;
    }
    char *oc = NULL;
    if (origin && !(oc = strdup(origin)))
        return -1;
    a->argv[a->argc] = str;
    a->origin[a->argc] = oc;
    a->owned[a->argc] = own ? str : NULL;
    a->argc++;
    a->argv[a->argc] = NULL;
    a->origin[a->argc] = NULL;
    a->owned[a->argc] = NULL;
    return 0;
}

static void s_error(parse_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_error(parse_t *p, const char *fmt, ...)
{
    if (p->error[0])
        return; /* the first one is reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
    p->error_line = p->line;
}

/* fgets for inih, counting lines and refusing over-long ones (inih would cut them). */
static char *s_reader(char *str, int num, void *stream)
{
    parse_t *p = stream;
    if (p->long_line)
        return NULL;
    char *r = fgets(str, num, p->f);
    if (!r)
        return NULL;
    p->line++;
    size_t n = strlen(r);
    if (n == (size_t)num - 1 && r[n - 1] != '\n') {
        int c = fgetc(p->f);
        if (c != EOF) {
            p->long_line = true;
            s_error(p, "line longer than %d characters", PL_CONFIG_LINE_MAX - 1);
            return NULL;
        }
    }
    return r;
}

static int s_bool(const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (!strcasecmp(v, yes[i]))
            return 1;
        if (!strcasecmp(v, no[i]))
            return 0;
    }
    return -1;
}

/* inih: one key of one section. Returns 1 (go on) or 0 (error, recorded in p). */
static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    parse_t *p = user;
    bool known = false;
    for (size_t i = 0; i < sizeof s_sections / sizeof *s_sections; i++)
        known = known || !strcmp(section, s_sections[i]);
    if (!*section) {
        s_error(p, "key '%s' outside a section ([gateway], [router] or [shard])", name);
        return 0;
    }
    if (!known) {
        s_error(p, "unknown section [%s] (expected [gateway], [router] or [shard])", section);
        return 0;
    }
    if (strcmp(section, p->section) != 0)
        return 1; /* another role's key */
    const struct option *o = NULL;
    if (strcmp(name, "config") != 0 && strcmp(name, "help") != 0) {
        for (const struct option *q = p->opts; q->name; q++) {
            if (!strcmp(q->name, name)) {
                o = q;
                break;
            }
        }
    }
    if (!o) {
        s_error(p, "unknown key '%s' in [%s] (keys are the long flags of %s --help)", name, section,
                p->args->prog);
        return 0;
    }
    char origin[4200];
    snprintf(origin, sizeof origin, "%s:%d", p->args->file, p->line);
    char *arg = NULL;
    if (o->has_arg == no_argument) {
        int b = s_bool(value);
        if (b < 0) {
            s_error(p, "%s = %s: expected true or false", name, value);
            return 0;
        }
        if (!b)
            return 1;
        if (asprintf(&arg, "--%s", name) < 0)
            arg = NULL;
    } else {
        if (!*value && o->has_arg == required_argument) {
            s_error(p, "%s has no value", name);
            return 0;
        }
        if (asprintf(&arg, *value ? "--%s=%s" : "--%s", name, value) < 0)
            arg = NULL;
    }
    if (!arg || s_push(p->args, arg, true, origin) != 0) {
        free(arg);
        s_error(p, "out of memory");
        return 0;
    }
    return 1;
}

/* The value of the table's "config" option on the command line, or NULL; *twice is set
 * when it is given more than once. */
static const char *s_find_config(int argc, char **argv, const struct option *opts, bool *twice)
{
    const char *file = NULL;
    *twice = false;
    char **copy = calloc((size_t)argc + 1, sizeof *copy);
    if (!copy)
        return NULL;
    memcpy(copy, argv, (size_t)argc * sizeof *copy);
    int saved_opterr = opterr;
    opterr = 0;
    optind = 0; /* glibc: a full re-initialisation */
    for (;;) {
        int li = -1;
        int c = getopt_long(argc, copy, "", opts, &li);
        if (c == -1)
            break;
        if (c == '?' || c == ':' || li < 0)
            continue;
        if (!strcmp(opts[li].name, "config") && optarg) {
            if (file)
                *twice = true;
            file = optarg;
        }
    }
    opterr = saved_opterr;
    optind = 0;
    free(copy);
    return file;
}

pl_args_t *pl_args_new(const char *prog, const char *section, int argc, char **argv,
                       const struct option *opts)
{
    pl_args_t *a = calloc(1, sizeof *a);
    if (!a)
        goto oom;
    a->prog = prog;
    if (s_push(a, argv[0], false, NULL) != 0)
        goto oom;
    bool has_config = false;
    for (const struct option *q = opts; q->name; q++)
        has_config = has_config || (!strcmp(q->name, "config") && q->has_arg == required_argument);
    if (has_config) {
        bool twice;
        a->file = s_find_config(argc, argv, opts, &twice);
        if (twice) {
            fprintf(stderr, "%s: --config given more than once\n", prog);
            goto fail;
        }
    }
    if (a->file) {
        parse_t p = {.args = a, .section = section, .opts = opts};
        if (!*a->file || !(p.f = fopen(a->file, "r"))) {
            fprintf(stderr, "%s: cannot read the config file %s: %s\n", prog, a->file,
                    *a->file ? strerror(errno) : "empty name");
            goto fail;
        }
        int r = ini_parse_stream(s_reader, &p, s_handler, &p);
        bool read_error = ferror(p.f);
        fclose(p.f);
        if (read_error) {
            fprintf(stderr, "%s: cannot read the config file %s\n", prog, a->file);
            goto fail;
        }
        if (p.error[0] && !(r > 0 && r < p.error_line)) {
            fprintf(stderr, "%s: %s:%d: %s\n", prog, a->file, p.error_line, p.error);
            goto fail;
        }
        if (r != 0) {
            fprintf(stderr,
                    "%s: %s:%d: syntax error (expected [section], key = value, or a "
                    "comment starting with ; or #)\n",
                    prog, a->file, r > 0 ? r : p.line);
            goto fail;
        }
    }
    for (int i = 1; i < argc; i++)
        if (s_push(a, argv[i], false, NULL) != 0)
            goto oom;
    optind = 0;
    return a;
oom:
    fprintf(stderr, "%s: out of memory\n", prog);
fail:
    pl_args_destroy(&a);
    optind = 0;
    return NULL;
}

void pl_args_destroy(pl_args_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    pl_args_t *a = *self_p;
    for (int i = 0; i < a->argc; i++) {
        free(a->origin[i]);
        free(a->owned[i]);
    }
    free(a->argv);
    free(a->origin);
    free(a->owned);
    free(a);
    *self_p = NULL;
}

int pl_args_argc(const pl_args_t *self)
{
    return self->argc;
}

char **pl_args_argv(const pl_args_t *self)
{
    return self->argv;
}

const char *pl_args_file(const pl_args_t *self)
{
    return self->file;
}

const char *pl_args_origin(const pl_args_t *self, int index)
{
    if (index < 0 || index >= self->argc)
        return NULL;
    /* getopt_long permutes argv, not our parallel arrays: find the string itself */
    const char *s = self->argv[index];
    for (int i = 0; i < self->argc; i++)
        if (self->owned[i] && self->owned[i] == s)
            return self->origin[i];
    return NULL;
}

int pl_args_from_cmdline(const pl_args_t *self)
{
    return pl_args_origin(self, optind - 1) == NULL;
}

void pl_args_bad_value(const pl_args_t *self, const char *name, const char *value, const char *hint)
{
    const char *where = pl_args_origin(self, optind - 1);
    if (where)
        fprintf(stderr, "%s: %s: bad value for %s: %s%s%s\n", self->prog, where, name,
                value ? value : "(none)", hint ? " — " : "", hint ? hint : "");
    else
        fprintf(stderr, "%s: --%s %s: bad value%s%s\n", self->prog, name, value ? value : "",
                hint ? " — " : "", hint ? hint : "");
}
