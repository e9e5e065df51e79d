/* parley-router — command line, signals and the loop (docs/internals.md "Command lines").
 * Exits 0 on SIGTERM/SIGINT after closing its sockets; 2 on a bad command line; 1 when it
 * cannot start (e.g. a port in use). */
#include "router.h"

#include "pl_curve.h"
#include "pl_log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    s_stop = sig;
}

/* Runs every 100 ms: ends the loop once a signal asked for it (a signal that arrives
 * while zmq_poll sleeps ends it at once through EINTR). */
static int s_check_stop(zloop_t *loop, int timer_id, void *arg)
{
    return s_stop ? -1 : 0;
}

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: parley-router --curve-secret FILE --curve-allow DIR [--front EP] [--back EP]\n"
            "                     [--shards N]\n"
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
            "  --help       print this and exit\n"
            "\n"
            "Logs to stderr; PARLEY_LOG=debug|info|warn|error (default info).\n"
            "Stops cleanly on SIGTERM or SIGINT (exit 0).\n");
}

/* "--name value" or "--name=value". Returns the value and advances *i, or NULL. */
static const char *s_flag(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        fprintf(stderr, "parley-router: %s needs a value\n", name);
        exit(2);
    }
    return argv[++*i];
}

int main(int argc, char **argv)
{
    const char *front = "tcp://127.0.0.1:7100", *back = "tcp://127.0.0.1:7101";
    const char *secret = NULL, *allow = NULL;
    int nshards = 2;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            s_usage(stdout);
            return 0;
        } else if ((v = s_flag(argc, argv, &i, "--front")))
            front = v;
        else if ((v = s_flag(argc, argv, &i, "--back")))
            back = v;
        else if ((v = s_flag(argc, argv, &i, "--curve-secret")))
            secret = v;
        else if ((v = s_flag(argc, argv, &i, "--curve-allow")))
            allow = v;
        else if ((v = s_flag(argc, argv, &i, "--shards"))) {
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (errno || *v == '\0' || *end != '\0' || n < 1 || n > 16384) {
                fprintf(stderr, "parley-router: --shards %s: must be 1..16384\n", v);
                return 2;
            }
            nshards = (int)n;
        } else {
            fprintf(stderr, "parley-router: unknown argument %s\n", argv[i]);
            s_usage(stderr);
            return 2;
        }
    }
    if (!secret || !*secret || !allow || !*allow) {
        fprintf(stderr, "parley-router: --curve-secret and --curve-allow are required "
                        "(docs/internals.md \"Security between roles\")\n");
        return 2;
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
    zcert_t *cert = pl_curve_load_secret(secret);
    if (!cert)
        return 1;
    router_t *router = router_new(front, back, nshards, 0, cert, allow);
    zcert_destroy(&cert);
    if (!router)
        return 1;
    zloop_t *loop = zloop_new();
    if (!loop || router_attach(router, loop) != 0 ||
        zloop_timer(loop, 100, 0, s_check_stop, NULL) < 0) {
        pl_error("cannot set up the event loop");
        zloop_destroy(&loop);
        router_destroy(&router);
        return 1;
    }
    pl_info("listening: front %s (gateways), back %s (shards), %d shards, table v1, CURVE key %s",
            router_front_endpoint(router), router_back_endpoint(router), nshards,
            router_public_key(router));
    /* zloop_start also returns when zmq_poll is interrupted by any signal: go on unless
     * it was one of ours. */
    while (!s_stop) {
        int r = zloop_start(loop);
        if (s_stop || r != 0 || zmq_errno() != EINTR)
            break;
    }
    int rc = s_stop ? 0 : 1;
    if (s_stop)
        pl_info("stopping (%s)", s_stop == SIGINT ? "SIGINT" : "SIGTERM");
    else
        pl_error("event loop failed");
    zloop_destroy(&loop);
    router_destroy(&router);
    return rc;
}
