/* lws-echo — a bare libwebsockets echo server: the ceiling Parley's gateway is measured
 * against (bench/limits, docs/benchmarks.md). Every text frame a client sends comes back
 * on the same socket, unchanged; nothing else is done (no JSON, no ZeroMQ).
 *
 *   lws-echo --port 18200 [--seconds S]
 *
 * lws on its default poll loop, one frame written per LWS_CALLBACK_SERVER_WRITEABLE; a
 * socket's queued echoes are a FIFO list (unbounded: the generator is the only client).
 * Stops on SIGTERM/SIGINT or after --seconds (default 600). Exit 0. */
#include <libwebsockets.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

typedef struct echo_msg {
    struct echo_msg *next;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes, then the payload */
} echo_msg_t;

typedef struct {
    echo_msg_t *head, *tail;
} echo_pss_t;

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

static int s_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                      size_t len)
{
    echo_pss_t *pss = user;
    switch (reason) {
    case LWS_CALLBACK_RECEIVE: {
        echo_msg_t *m = malloc(sizeof *m + LWS_PRE + len);
        if (!m)
            return -1;
        m->next = NULL;
        m->len = len;
        memcpy(m->buf + LWS_PRE, in, len);
        if (pss->tail)
            pss->tail->next = m;
        else
            pss->head = m;
        pss->tail = m;
        lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_SERVER_WRITEABLE: {
        echo_msg_t *m = pss->head;
        if (!m)
            break;
        if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
            return -1;
        pss->head = m->next;
        if (!pss->head)
            pss->tail = NULL;
        free(m);
        if (pss->head)
            lws_callback_on_writable(wsi);
        break;
    }
    case LWS_CALLBACK_CLOSED:
        while (pss->head) {
            echo_msg_t *m = pss->head;
            pss->head = m->next;
            free(m);
        }
        pss->tail = NULL;
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols s_protocols[] = {
    {"echo", s_callback, sizeof(echo_pss_t), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int main(int argc, char **argv)
{
    int port = 18200;
    long seconds = 600;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atol(argv[i + 1]);
    }
    lws_set_log_level(LLL_ERR, NULL);
    signal(SIGINT, s_on_signal);
    signal(SIGTERM, s_on_signal);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = "127.0.0.1";
    info.protocols = s_protocols;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    struct lws_context *ctx = lws_create_context(&info);
    if (!ctx)
        return 1;
    time_t end = time(NULL) + seconds;
    while (!s_stop && time(NULL) < end && lws_service(ctx, 0) >= 0)
        ;
    lws_context_destroy(ctx);
    return 0;
}
