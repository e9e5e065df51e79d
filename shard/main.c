/* parley-shard — owns the keys whose slots map to it (docs/internals.md). A thin main
 * around shard_t and the router link: flags, signals, exit 0 on SIGTERM/SIGINT after
 * closing the socket and RocksDB. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "link.h"
#include "pl_config.h"
#include "pl_curve.h"
#include "pl_log.h"
#include "pl_mem.h"
#include "presence.h"
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
            "  --config FILE     read the [shard] section of an INI file first (keys: these\n"
            "                    flags without --); flags given here override it\n"
            "  --id N            shard id (default 0); ZeroMQ identity s/<id>\n"
            "  --router ENDPOINT router back socket to connect (default tcp://127.0.0.1:7101)\n"
            "  --curve-secret FILE this shard's CURVE key pair (parley-keygen --role shard\n"
            "                    --id N; FILE or FILE_secret). Required; its id must be --id\n"
            "  --router-key FILE the router's public key file. Required\n"
            "  --data DIR        RocksDB folder, created (default ./var/shard-<id>)\n"
            "  --sync            fsync every group commit (power-loss durability)\n"
            "  --disk-reserve-mib N  refuse writes (unavailable) while the data folder's\n"
            "                    file system has less than N MiB free, and keep a spare\n"
            "                    file of N MiB there for RocksDB; resume at 2N free\n"
            "                    (default 64; 0: off)\n"
            "  --gw-timeout MS   drop a gateway's users after MS without GWHB (default 10000)\n"
            "  --presence-flap-ms MS  a user back within MS of going offline shows no\n"
            "                    offline blip; offline is announced 1 s + MS late (default\n"
            "                    2000; test clusters use less)\n"
            "  --vapid-key FILE  P-256 private key (PEM) signing Web Push requests (VAPID)\n"
            "  --vapid-subject S VAPID `sub`: mailto: or https: URL (default\n"
            "                    mailto:postmaster@localhost)\n"
            "  --fcm-credentials FILE  FCM service-account JSON (client_email, private_key,\n"
            "                    private_key_id, token_uri); unset: FCM targets forbidden\n"
            "  --fcm-project ID  FCM project (default: the credentials' project_id)\n"
            "  --fcm-url URL     FCM base URL (default https://fcm.googleapis.com)\n"
            "  --apns-key FILE   APNs P-256 signing key (.p8/PEM); unset: APNs targets forbidden\n"
            "  --apns-key-id ID  its key id; --apns-team-id ID  the Apple team id\n"
            "  --apns-url URL    APNs base URL (default https://api.push.apple.com)\n"
            "  --apns-sandbox-url URL  for sandbox targets (default\n"
            "                    https://api.sandbox.push.apple.com)\n"
            "  --max-groups-created N  groups a user may create (default 1000)\n"
            "  --max-groups-member N   groups a user may be a member of (default 5000)\n"
            "Abuse limits (0 turns one off; docs/reliability.md):\n"
            "  --max-devices N   device tokens per user; one more login revokes the least\n"
            "                    recently used (default 32)\n"
            "  --guess-burst N   login attempts per account at once, successes refunded\n"
            "                    (default 10); --guess-per-min N: refill a minute (default 6)\n"
            "  --user-send-burst N  sends per user at once into this shard's conversations,\n"
            "                    all sockets and gateways (default 1000);\n"
            "  --user-send-per-sec N  refill a second (default 300)\n"
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
    if (pl_mem_tune() != 0)
        pl_warn("mallopt refused: the allocator keeps its defaults");

    /* One table for the command line and the config file ([shard], keys = these names). */
    static const struct option opts[] = {{"id", required_argument, NULL, 'i'},
                                         {"router", required_argument, NULL, 'r'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"sync", no_argument, NULL, 'S'},
                                         {"disk-reserve-mib", required_argument, NULL, 'R'},
                                         {"gw-timeout", required_argument, NULL, 'g'},
                                         {"presence-flap-ms", required_argument, NULL, 'f' + 256},
                                         {"vapid-key", required_argument, NULL, 'k'},
                                         {"vapid-subject", required_argument, NULL, 'j'},
                                         {"fcm-credentials", required_argument, NULL, 'F'},
                                         {"fcm-project", required_argument, NULL, 'P'},
                                         {"fcm-url", required_argument, NULL, 'U'},
                                         {"apns-key", required_argument, NULL, 'K'},
                                         {"apns-key-id", required_argument, NULL, 'I'},
                                         {"apns-team-id", required_argument, NULL, 'T'},
                                         {"apns-url", required_argument, NULL, 'A'},
                                         {"apns-sandbox-url", required_argument, NULL, 'B'},
                                         {"max-groups-created", required_argument, NULL, 'M'},
                                         {"max-groups-member", required_argument, NULL, 'm'},
                                         {"curve-secret", required_argument, NULL, 'x'},
                                         {"router-key", required_argument, NULL, 'y'},
                                         {"max-devices", required_argument, NULL, 'D'},
                                         {"guess-burst", required_argument, NULL, 'G'},
                                         {"guess-per-min", required_argument, NULL, 'g' + 256},
                                         {"user-send-burst", required_argument, NULL, 'X'},
                                         {"user-send-per-sec", required_argument, NULL, 'x' + 256},
                                         {"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    long id = 0, gw_timeout = 10000, flap = SHARD_PRESENCE_FLAP_MS, max_created = 1000,
         max_member = 5000;
    long disk_reserve = SHARD_DISK_RESERVE_MIB_DEFAULT;
    long guard[5] = {32, 10, 6, 1000, 300}; /* guard.h: SHARD_GUARD_DEFAULTS */
    const char *router = "tcp://127.0.0.1:7101";
    const char *data = NULL;
    const char *vapid_key = NULL, *vapid_subject = NULL;
    const char *curve_secret = NULL, *router_key = NULL;
    bool sync = false;
    shard_providers_cfg_t prov = {0};
    /* owns the strings the flags point to: freed at exit */
    pl_args_t *args = pl_args_new("parley-shard", "shard", argc, argv, opts);
    if (!args)
        return 2;
    int c, li;
    while ((c = getopt_long(pl_args_argc(args), pl_args_argv(args), "", opts, &li)) != -1) {
        const char *hint = NULL;
        switch (c) {
        case 'h':
            s_usage(stdout);
            pl_args_destroy(&args);
            return 0;
        case 'S':
            sync = true;
            continue;
        case 'c':
            continue; /* read by pl_args_new */
        case 'i':
            if (s_parse_int(optarg, 0, 65535, &id) == 0)
                continue;
            hint = "0..65535";
            break;
        case 'g':
            if (s_parse_int(optarg, 1, INT_MAX, &gw_timeout) == 0)
                continue;
            hint = "milliseconds, at least 1";
            break;
        case 'f' + 256:
            if (s_parse_int(optarg, 1, 60000, &flap) == 0)
                continue;
            hint = "milliseconds, 1..60000";
            break;
        case 'R':
            if (s_parse_int(optarg, 0, 1024 * 1024, &disk_reserve) == 0)
                continue;
            hint = "MiB, 0 (off) to 1048576";
            break;
        case 'M':
        case 'm':
            if (s_parse_int(optarg, 1, INT_MAX, c == 'M' ? &max_created : &max_member) == 0)
                continue;
            hint = "at least 1";
            break;
        case 'x':
        case 'y':
            if (*optarg) {
                *(c == 'x' ? &curve_secret : &router_key) = optarg;
                continue;
            }
            hint = "must not be empty";
            break;
        case 'D':
        case 'G':
        case 'g' + 256:
        case 'X':
        case 'x' + 256: {
            int i = c == 'D' ? 0 : c == 'G' ? 1 : c == 'g' + 256 ? 2 : c == 'X' ? 3 : 4;
            if (s_parse_int(optarg, 0, 1000000000, &guard[i]) == 0)
                continue;
            hint = "0 (off) or more";
            break;
        }
        case 'r':
        case 'd':
        case 'k':
            if (*optarg) {
                *(c == 'r' ? &router : c == 'd' ? &data : &vapid_key) = optarg;
                continue;
            }
            hint = "must not be empty";
            break;
        case 'j':
            if (strncmp(optarg, "mailto:", 7) == 0 || strncmp(optarg, "https:", 6) == 0) {
                vapid_subject = optarg;
                continue;
            }
            hint = "a mailto: or https: URL";
            break;
        case 'F':
        case 'P':
        case 'U':
        case 'K':
        case 'I':
        case 'T':
        case 'A':
        case 'B':
            if (*optarg) { /* FCM / APNs: non-empty strings, checked when loaded */
                *(c == 'F'   ? &prov.fcm_credentials
                  : c == 'P' ? &prov.fcm_project
                  : c == 'U' ? &prov.fcm_url
                  : c == 'K' ? &prov.apns_key
                  : c == 'I' ? &prov.apns_key_id
                  : c == 'T' ? &prov.apns_team_id
                  : c == 'A' ? &prov.apns_url
                             : &prov.apns_sandbox_url) = optarg;
                continue;
            }
            hint = "must not be empty";
            break;
        default:
            s_usage(stderr);
            goto bad;
        }
        pl_args_bad_value(args, opts[li].name, optarg, hint);
        goto bad;
    }
    if (optind < pl_args_argc(args)) {
        fprintf(stderr, "parley-shard: unexpected argument %s\n", pl_args_argv(args)[optind]);
        goto bad;
    }
    if (prov.apns_key && (!prov.apns_key_id || !prov.apns_team_id)) {
        fprintf(stderr, "parley-shard: --apns-key needs --apns-key-id and --apns-team-id\n");
        goto bad;
    }
    if (!curve_secret || !router_key) {
        fprintf(stderr, "parley-shard: --curve-secret and --router-key are required "
                        "(docs/internals.md \"Security between roles\")\n");
        goto bad;
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
        pl_args_destroy(&args);
        return 1;
    }
    char router_pub[41], keyname[80], want[32];
    zcert_t *cert = pl_curve_load_secret(curve_secret);
    if (!cert || pl_curve_load_public(router_key, router_pub) != 0) {
        zcert_destroy(&cert);
        pl_args_destroy(&args);
        return 1;
    }
    snprintf(want, sizeof want, "s/%ld", id);
    if (pl_curve_role(cert, keyname, sizeof keyname) != PL_ROLE_SHARD || strcmp(keyname, want)) {
        pl_error("--curve-secret %s is not the key of shard %ld (role shard, id %ld)", curve_secret,
                 id, id);
        zcert_destroy(&cert);
        pl_args_destroy(&args);
        return 1;
    }
    shard_config_t cfg = {.id = (int)id,
                          .data = data,
                          .sync = sync,
                          .gw_timeout_ms = gw_timeout,
                          .presence_flap_ms = (int)flap,
                          .vapid_key = vapid_key,
                          .vapid_subject = vapid_subject,
                          .providers = prov,
                          .max_groups_created = (int)max_created,
                          .max_groups_member = (int)max_member,
                          .disk_reserve_mib = (int)disk_reserve};
    cfg.guard = (shard_guard_cfg_t){(int)guard[0], (int)guard[1], (int)guard[2], (int)guard[3],
                                    (int)guard[4]};
    shard_t *shard = shard_new(&cfg);
    if (!shard) {
        zcert_destroy(&cert);
        pl_args_destroy(&args);
        return 1;
    }
    int rc = shard_link_run(shard, router, cert, router_pub, &s_stop);
    shard_destroy(&shard);
    zcert_destroy(&cert);
    pl_args_destroy(&args);
    pl_info("stopped");
    return rc == 0 ? 0 : 1;
bad:
    pl_args_destroy(&args);
    return 2;
}
