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
#include "pl_curve.h"
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
            "  --curve-secret FILE this shard's CURVE key pair (parley-keygen --role shard\n"
            "                    --id N; FILE or FILE_secret). Required; its id must be --id\n"
            "  --router-key FILE the router's public key file. Required\n"
            "  --data DIR        RocksDB folder, created (default ./var/shard-<id>)\n"
            "  --sync            fsync every group commit (power-loss durability)\n"
            "  --gw-timeout MS   drop a gateway's users after MS without GWHB (default 10000)\n"
            "  --vapid-key FILE  P-256 private key (PEM) signing Web Push requests (VAPID)\n"
            "  --vapid-subject S VAPID `sub`: mailto: or https: URL (default\n"
            "                    mailto:postmaster@localhost)\n"
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

    long id = 0, gw_timeout = 10000;
    const char *router = "tcp://127.0.0.1:7101";
    const char *data = NULL;
    const char *vapid_key = NULL, *vapid_subject = NULL;
    const char *curve_secret = NULL, *router_key = NULL;
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
        else if (strcmp(arg, "--router") == 0 && val && *val) {
            router = val;
            i++;
        } else if (strcmp(arg, "--curve-secret") == 0 && val && *val) {
            curve_secret = val;
            i++;
        } else if (strcmp(arg, "--router-key") == 0 && val && *val) {
            router_key = val;
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
    if (!curve_secret || !router_key) {
        fprintf(stderr, "parley-shard: --curve-secret and --router-key are required "
                        "(docs/internals.md \"Security between roles\")\n");
        return 2;
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
    char router_pub[41], keyname[80], want[32];
    zcert_t *cert = pl_curve_load_secret(curve_secret);
    if (!cert || pl_curve_load_public(router_key, router_pub) != 0) {
        zcert_destroy(&cert);
        return 1;
    }
    snprintf(want, sizeof want, "s/%ld", id);
    if (pl_curve_role(cert, keyname, sizeof keyname) != PL_ROLE_SHARD || strcmp(keyname, want)) {
        pl_error("--curve-secret %s is not the key of shard %ld (role shard, id %ld)", curve_secret,
                 id, id);
        zcert_destroy(&cert);
        return 1;
    }
    shard_config_t cfg = {.id = (int)id,
                          .data = data,
                          .sync = sync,
                          .gw_timeout_ms = gw_timeout,
                          .vapid_key = vapid_key,
                          .vapid_subject = vapid_subject};
    shard_t *shard = shard_new(&cfg);
    if (!shard) {
        zcert_destroy(&cert);
        return 1;
    }
    int rc = shard_link_run(shard, router, cert, router_pub, &s_stop);
    shard_destroy(&shard);
    zcert_destroy(&cert);
    pl_info("stopped");
    return rc == 0 ? 0 : 1;
}
