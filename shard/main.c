/* parley-shard — owns the keys whose slots map to it (docs/internals.md). A thin main
 * around shard_t and the router link: flags, signals, exit 0 on SIGTERM/SIGINT after
 * closing the socket and RocksDB. */
#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "pl_log.h"
#include "shard.h"

static volatile sig_atomic_t s_stop = 0;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: parley-shard [flags]\n"
            "  --id N            shard id (default 0); ZeroMQ identity s/<id>\n"
            "  --router ENDPOINT router back socket to connect (default tcp://127.0.0.1:7101)\n"
            "  --data DIR        RocksDB folder, created (default ./var/shard-<id>)\n"
            "  --sync            fsync every group commit (power-loss durability)\n"
            "  --gw-timeout MS   drop a gateway's users after MS without GWHB (default 10000)\n"
            "  --vapid-key FILE  P-256 private key (PEM) signing Web Push requests (VAPID)\n"
            "  --vapid-subject S VAPID `sub`: mailto: or https: URL (default\n"
            "                    mailto:postmaster@localhost)\n"
            "  --max-groups-created N  groups a user may create (default 1000)\n"
            "  --max-groups-member N   groups a user may be a member of (default 5000)\n"
            "  --help            this text\n"
            "Logs go to stderr; PARLEY_LOG=debug|info|warn|error (default info).\n");
}

static int s_parse_int(const char *s, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL); /* before any other czmq call: signals are ours */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pl_log_init("shard", PL_INFO);

    long id = 0, gw_timeout = 10000, max_created = 1000, max_member = 5000;
    const char *router = "tcp://127.0.0.1:7101";
    const char *data = NULL;
    const char *vapid_key = NULL, *vapid_subject = NULL;
    bool sync = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            s_usage(stdout);
            return 0;
        } else if (strcmp(arg, "--sync") == 0)
            sync = true;
        else if (strcmp(arg, "--id") == 0 && val && s_parse_int(val, 0, 65535, &id) == 0)
            i++;
        else if (strcmp(arg, "--gw-timeout") == 0 && val &&
                 s_parse_int(val, 1, INT_MAX, &gw_timeout) == 0)
            i++;
        else if (strcmp(arg, "--max-groups-created") == 0 && val &&
                 s_parse_int(val, 1, INT_MAX, &max_created) == 0)
            i++;
        else if (strcmp(arg, "--max-groups-member") == 0 && val &&
                 s_parse_int(val, 1, INT_MAX, &max_member) == 0)
            i++;
        else if (strcmp(arg, "--router") == 0 && val && *val) {
            router = val;
            i++;
        } else if (strcmp(arg, "--vapid-key") == 0 && val && *val) {
            vapid_key = val;
            i++;
        } else if (strcmp(arg, "--vapid-subject") == 0 && val &&
                   (strncmp(val, "mailto:", 7) == 0 || strncmp(val, "https:", 6) == 0)) {
            vapid_subject = val;
            i++;
        } else if (strcmp(arg, "--data") == 0 && val && *val) {
            data = val;
            i++;
        } else {
            fprintf(stderr, "parley-shard: bad or incomplete flag: %s\n", arg);
            s_usage(stderr);
            return 2;
        }
    }
    char role[32];
    snprintf(role, sizeof(role), "shard-%ld", id);
    pl_log_init(role, PL_INFO); /* again, now that the id is known */
    char data_default[64];
    if (!data) {
        snprintf(data_default, sizeof(data_default), "./var/shard-%ld", id);
        data = data_default;
    }
    if (sodium_init() < 0) {
        pl_error("libsodium failed to initialise");
        return 1;
    }
    shard_config_t cfg = {.id = (int)id,
                          .data = data,
                          .sync = sync,
                          .gw_timeout_ms = gw_timeout,
                          .vapid_key = vapid_key,
                          .vapid_subject = vapid_subject,
                          .max_groups_created = (int)max_created,
                          .max_groups_member = (int)max_member};
    shard_t *shard = shard_new(&cfg);
    if (!shard)
        return 1;
    int rc = shard_link_run(shard, router, &s_stop);
    shard_destroy(&shard);
    pl_info("stopped");
    return rc == 0 ? 0 : 1;
}
