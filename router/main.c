/* parley-router — command line, signals and the loop (docs/internals.md "Command lines").
 * Exits 0 on SIGTERM/SIGINT after closing its sockets; 2 on a bad command line; 1 when it
 * cannot start (e.g. a port in use). */
#include "router.h"

#include "pl_config.h"
#include "pl_curve.h"
#include "pl_log.h"
#include "pl_mem.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    s_stop = sig;
}

/* Runs every 100 ms, so the loop sees s_stop even if the signal landed between its
 * check and its poll() (a signal that arrives while poll() sleeps ends it through EINTR). */
static int s_check_stop(pl_loop_t *loop, void *arg)
{
    return s_stop ? -1 : 0;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: parley-router --curve-secret FILE --curve-allow DIR [--config FILE]\n"
            "                     [--front EP] [--back EP] [--shards N]\n"
            "\n"
            "Routes requests from gateways to the shard owning each key (docs/internals.md).\n"
            "\n"
            "  --front EP   ZeroMQ endpoint to bind for gateways (default tcp://127.0.0.1:7100)\n"
            "  --back EP    ZeroMQ endpoint to bind for shards   (default tcp://127.0.0.1:7101)\n"
            "  --shards N   number of shards, ids 0..N-1; slots split evenly, table version 1\n"
            "               (default 2)\n"
            "  --curve-secret FILE  the router's key pair (parley-keygen --role router; FILE or\n"
            "               FILE_secret). Required: both sockets are CURVE servers\n"
            "  --curve-allow DIR    folder of the public key files of the gateways and shards\n"
            "               to admit (role and name/id in each file bind the key to g/<name>\n"
            "               or s/<id>). Required; read again when an unknown key knocks\n"
            "  --config FILE  read the [router] section of an INI file first (keys: these\n"
            "               flags without --); flags given here override it\n"
            "  --help       print this and exit\n"
            "\n"
            "Logs to stderr; PARLEY_LOG=debug|info|warn|error (default info).\n"
            "Stops cleanly on SIGTERM or SIGINT (exit 0).\n");
}

int main(int argc, char **argv)
{
    /* One table for the command line and the config file ([router], keys = these names). */
    static const struct option opts[] = {{"front", required_argument, NULL, 'f'},
                                         {"back", required_argument, NULL, 'b'},
                                         {"shards", required_argument, NULL, 's'},
                                         {"curve-secret", required_argument, NULL, 'k'},
                                         {"curve-allow", required_argument, NULL, 'a'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *front = "tcp://127.0.0.1:7100", *back = "tcp://127.0.0.1:7101";
    const char *secret = NULL, *allow = NULL;
    int nshards = 2;
    /* owns the strings front and back may point to: freed at exit */
    pl_args_t *args = pl_args_new("parley-router", "router", argc, argv, opts);
    if (!args)
        return 2;
    int c, li;
    while ((c = getopt_long(pl_args_argc(args), pl_args_argv(args), "", opts, &li)) != -1) {
        switch (c) {
        case 'h':
            s_usage(stdout);
            pl_args_destroy(&args);
            return 0;
        case 'f':
        case 'b':
            if (!*optarg) {
                pl_args_bad_value(args, opts[li].name, optarg, "a ZeroMQ endpoint");
                goto bad;
            }
            if (c == 'f')
                front = optarg;
            else
                back = optarg;
            break;
        case 's': {
            char *end;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || *optarg == '\0' || *end != '\0' || n < 1 || n > 16384) {
                pl_args_bad_value(args, "shards", optarg, "must be 1..16384");
                goto bad;
            }
            nshards = (int)n;
            break;
        }
        case 'k':
        case 'a':
            if (!*optarg) {
                pl_args_bad_value(args, opts[li].name, optarg, "must not be empty");
                goto bad;
            }
            *(c == 'k' ? &secret : &allow) = optarg;
            break;
        case 'c':
            break; /* read by pl_args_new */
        default:
            s_usage(stderr);
            goto bad;
        }
    }
    if (optind < pl_args_argc(args)) {
        fprintf(stderr, "parley-router: unexpected argument %s\n", pl_args_argv(args)[optind]);
        goto bad;
    }
    if (!secret || !allow) {
        fprintf(stderr, "parley-router: --curve-secret and --curve-allow are required "
                        "(docs/internals.md \"Security between roles\")\n");
        goto bad;
    }

    /* czmq installs its own SIGINT/SIGTERM handlers at its first call unless told not to. */
    zsys_handler_set(NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    pl_log_init("router", PL_INFO);
    if (pl_mem_tune() != 0)
        pl_warn("mallopt refused: the allocator keeps its defaults");
    zcert_t *cert = pl_curve_load_secret(secret);
    router_t *router = cert ? router_new(front, back, nshards, 0, cert, allow) : NULL;
    zcert_destroy(&cert);
    if (!router) {
        pl_args_destroy(&args);
        return 1;
    }
    pl_loop_t *loop = pl_loop_new();
    if (!loop || router_attach(router, loop) != 0 ||
        pl_loop_timer(loop, 100, s_check_stop, NULL) != 0) {
        pl_error("cannot set up the event loop");
        pl_loop_destroy(&loop);
        router_destroy(&router);
        pl_args_destroy(&args);
        return 1;
    }
    pl_info("listening: front %s (gateways), back %s (shards), %d shards, table v1, CURVE key %s",
            router_front_endpoint(router), router_back_endpoint(router), nshards,
            router_public_key(router));
    /* returns once s_stop is set (any other signal's EINTR is only a wake), or when poll()
     * fails */
    pl_loop_run(loop, &s_stop);
    int rc = s_stop ? 0 : 1;
    pl_loop_stats_t st = pl_loop_stats(loop);
    if (s_stop)
        pl_info("stopping (%s; loop: %llu wakes, %llu handler runs, %llu ZMQ_EVENTS checks)",
                s_stop == SIGINT ? "SIGINT" : "SIGTERM", (unsigned long long)st.wakes,
                (unsigned long long)st.runs, (unsigned long long)st.checks);
    else
        pl_error("event loop failed");
    pl_loop_destroy(&loop);
    router_destroy(&router);
    pl_args_destroy(&args);
    return rc;
bad:
    pl_args_destroy(&args);
    return 2;
}
