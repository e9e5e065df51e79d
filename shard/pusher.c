/* pusher — the delivery thread (libcurl multi). See pusher.h. */
#include "pusher.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_time.h"

#define TIMEOUT_MS 10000
#define CONNECT_TIMEOUT_MS 5000
#define BACKOFF_MS 1000 /* first retry; doubles each time */
#define WEBPUSH_TTL "TTL: 86400"

typedef struct job {
    struct job *next;
    bool webpush;
    char *url;
    unsigned char p256dh[WEBPUSH_POINT_LEN], auth[WEBPUSH_AUTH_LEN];
    char *payload;
    char topic[48]; /* Web Push Topic header value (RFC 8030 §5.4), empty: none */
    void *key;
    size_t key_len;
    int tries;   /* attempts finished */
    int64_t due; /* pl_mono_ms of the next attempt */
    bool finished;
    /* thread only */
    CURL *easy; /* while in flight */
    struct curl_slist *hdrs;
    unsigned char *body; /* webpush: the encrypted record (kept for retries) */
    size_t body_len;
    char err[CURL_ERROR_SIZE];
} job_t;

typedef struct gone {
    struct gone *next;
    size_t len;
    char key[];
} gone_t;

struct _shard_pusher_t {
    pthread_mutex_t mu;
    /* guarded by mu */
    bool stop;
    job_t *in_head, *in_tail; /* handed over, not yet taken by the thread */
    size_t count;             /* jobs alive (incoming + active) */
    gone_t *gone;
    size_t delivered;
    /* set on the loop thread before the thread starts */
    bool started;
    pthread_t thread;
    CURLM *multi;
    EVP_PKEY *vapid;
    char *subject;
    /* thread only */
    job_t *active;
};

static pthread_once_t s_curl_once = PTHREAD_ONCE_INIT;
static void s_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void s_job_free(job_t *j)
{
    if (!j)
        return;
    free(j->url);
    free(j->payload);
    free(j->key);
    free(j->body);
    curl_slist_free_all(j->hdrs);
    free(j);
}

shard_pusher_t *shard_pusher_new(EVP_PKEY *vapid_key, const char *subject)
{
    pthread_once(&s_curl_once, s_curl_init);
    shard_pusher_t *self = calloc(1, sizeof *self);
    if (!self)
        goto fail;
    pthread_mutex_init(&self->mu, NULL);
    self->multi = curl_multi_init();
    self->subject = strdup(subject ? subject : "mailto:postmaster@localhost");
    if (!self->multi || !self->subject) {
        shard_pusher_destroy(&self);
        goto fail;
    }
    self->vapid = vapid_key;
    return self;
fail:
    EVP_PKEY_free(vapid_key);
    return NULL;
}

void shard_pusher_destroy(shard_pusher_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_pusher_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock(&self->mu);
        self->stop = true;
        pthread_mutex_unlock(&self->mu);
        curl_multi_wakeup(self->multi);
        pthread_join(self->thread, NULL);
    }
    for (job_t *j = self->active, *next; j; j = next) {
        next = j->next;
        if (j->easy) {
            curl_multi_remove_handle(self->multi, j->easy);
            curl_easy_cleanup(j->easy);
        }
        s_job_free(j);
    }
    for (job_t *j = self->in_head, *next; j; j = next) {
        next = j->next;
        s_job_free(j);
    }
    for (gone_t *g = self->gone, *next; g; g = next) {
        next = g->next;
        free(g);
    }
    if (self->multi)
        curl_multi_cleanup(self->multi);
    EVP_PKEY_free(self->vapid);
    free(self->subject);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

/* ---- the thread -------------------------------------------------------------------- */

/* Set up j's request and add it to the multi handle. 0, or -1 (j cannot be sent). */
static int s_start(shard_pusher_t *self, job_t *j)
{
    char *auth = NULL;
    j->hdrs = NULL;
    if (j->webpush) {
        if (!self->vapid) {
            pl_warn("push: no VAPID key (--vapid-key): Web Push target dropped");
            return -1;
        }
        if (!j->body &&
            webpush_encrypt(j->p256dh, j->auth, (const unsigned char *)j->payload,
                            strlen(j->payload), NULL, NULL, &j->body, &j->body_len) != 0) {
            pl_warn("push: cannot encrypt for %s", j->url);
            return -1;
        }
        char *v = webpush_vapid(self->vapid, j->url, self->subject, pl_now_ms() / 1000);
        if (!v)
            return -1;
        size_t n = strlen(v) + 16;
        auth = malloc(n);
        if (auth)
            snprintf(auth, n, "Authorization: %s", v);
        free(v);
        if (!auth)
            return -1;
        j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/octet-stream");
        j->hdrs = curl_slist_append(j->hdrs, "Content-Encoding: aes128gcm");
        j->hdrs = curl_slist_append(j->hdrs, WEBPUSH_TTL);
        j->hdrs = curl_slist_append(j->hdrs, "Urgency: high");
        if (j->topic[0]) {
            char topic[64];
            snprintf(topic, sizeof topic, "Topic: %s", j->topic);
            j->hdrs = curl_slist_append(j->hdrs, topic);
        }
        j->hdrs = curl_slist_append(j->hdrs, auth);
        free(auth);
    } else {
        j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/json");
    }
    j->hdrs = curl_slist_append(j->hdrs, "Expect:"); /* no 100-continue wait */
    CURL *e = curl_easy_init();
    if (!e || !j->hdrs) {
        curl_easy_cleanup(e);
        return -1;
    }
    const char *body = j->webpush ? (const char *)j->body : j->payload;
    size_t len = j->webpush ? j->body_len : strlen(j->payload);
    j->err[0] = 0;
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "parley-shard");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return -1;
    }
    j->easy = e;
    return 0;
}

/* One attempt of j ended (status 0: no HTTP answer). */
static void s_done(shard_pusher_t *self, job_t *j, bool ok_transport, long status)
{
    if (j->easy) {
        curl_multi_remove_handle(self->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    curl_slist_free_all(j->hdrs);
    j->hdrs = NULL;
    j->tries++;
    if (ok_transport && status >= 200 && status < 300) {
        pl_debug("push: delivered to %s (%ld)", j->url, status);
        pthread_mutex_lock(&self->mu);
        self->delivered++;
        pthread_mutex_unlock(&self->mu);
        j->finished = true;
        return;
    }
    if (ok_transport && (status == 404 || status == 410)) {
        pl_info("push: %s answered %ld: target removed", j->url, status);
        gone_t *g = malloc(sizeof *g + j->key_len);
        if (g) {
            g->len = j->key_len;
            memcpy(g->key, j->key, j->key_len);
            pthread_mutex_lock(&self->mu);
            g->next = self->gone;
            self->gone = g;
            pthread_mutex_unlock(&self->mu);
        }
        j->finished = true;
        return;
    }
    if (j->tries >= SHARD_PUSHER_TRIES) {
        pl_warn("push: giving up on %s after %d tries (last: %ld %s)", j->url, j->tries, status,
                j->err);
        j->finished = true;
        return;
    }
    int64_t wait = (int64_t)BACKOFF_MS << (j->tries - 1);
    pl_info("push: %s failed (%ld %s), retry in %lld ms", j->url, status, j->err, (long long)wait);
    j->due = pl_mono_ms() + wait;
}

static void *s_run(void *arg)
{
    shard_pusher_t *self = arg;
    for (;;) {
        pthread_mutex_lock(&self->mu);
        bool stop = self->stop;
        job_t *in = self->in_head;
        self->in_head = self->in_tail = NULL;
        pthread_mutex_unlock(&self->mu);
        if (stop) {
            for (job_t *j = in, *next; j; j = next) { /* the destroyer frees active ones */
                next = j->next;
                s_job_free(j);
            }
            break;
        }
        for (job_t *j = in, *next; j; j = next) {
            next = j->next;
            j->next = self->active;
            self->active = j;
        }
        int64_t now = pl_mono_ms(), wake = now + 1000;
        for (job_t *j = self->active; j; j = j->next) {
            if (j->easy)
                continue;
            if (j->due <= now) {
                if (s_start(self, j) != 0)
                    j->finished = true;
            } else if (j->due < wake)
                wake = j->due;
        }
        int running = 0;
        curl_multi_perform(self->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(self->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            job_t *j = NULL;
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            s_done(self, j, m->data.result == CURLE_OK, m->data.result == CURLE_OK ? status : 0);
            if (!j->finished && j->due < wake)
                wake = j->due;
        }
        /* free finished jobs */
        size_t freed = 0;
        for (job_t **pp = &self->active; *pp;) {
            job_t *j = *pp;
            if (j->finished) {
                *pp = j->next;
                s_job_free(j);
                freed++;
            } else
                pp = &j->next;
        }
        if (freed) {
            pthread_mutex_lock(&self->mu);
            self->count -= freed;
            pthread_mutex_unlock(&self->mu);
        }
        now = pl_mono_ms();
        int timeout = wake > now ? (int)(wake - now) : 0;
        curl_multi_poll(self->multi, NULL, 0, timeout, NULL);
    }
    return NULL;
}

/* ---- the loop thread --------------------------------------------------------------- */

int shard_pusher_queue(shard_pusher_t *self, const char *target, const char *payload,
                       const char *topic, const void *key, size_t key_len)
{
    json_t *t = json_loads(target, 0, NULL);
    const char *kind = json_string_value(json_object_get(t, "kind"));
    job_t *j = calloc(1, sizeof *j);
    if (!j || !kind)
        goto fail;
    if (strcmp(kind, "webpush") == 0) {
        json_t *keys = json_object_get(t, "keys");
        const char *p256dh = json_string_value(json_object_get(keys, "p256dh"));
        const char *auth = json_string_value(json_object_get(keys, "auth"));
        const char *endpoint = json_string_value(json_object_get(t, "endpoint"));
        if (!p256dh || !auth || !endpoint ||
            webpush_b64url_decode(p256dh, j->p256dh, sizeof j->p256dh) != WEBPUSH_POINT_LEN ||
            webpush_b64url_decode(auth, j->auth, sizeof j->auth) != WEBPUSH_AUTH_LEN)
            goto fail;
        j->webpush = true;
        j->url = strdup(endpoint);
    } else if (strcmp(kind, "webhook") == 0) {
        const char *url = json_string_value(json_object_get(t, "url"));
        if (!url)
            goto fail;
        j->url = strdup(url);
    } else
        goto fail;
    j->payload = strdup(payload);
    if (topic)
        snprintf(j->topic, sizeof j->topic, "%s", topic);
    j->key = malloc(key_len ? key_len : 1);
    if (!j->url || !j->payload || !j->key)
        goto fail;
    memcpy(j->key, key, key_len);
    j->key_len = key_len;
    j->due = pl_mono_ms();
    json_decref(t);
    t = NULL;
    pthread_mutex_lock(&self->mu);
    if (self->count >= SHARD_PUSHER_QUEUE_MAX) {
        pthread_mutex_unlock(&self->mu);
        pl_warn("push: %d deliveries pending: dropped one", SHARD_PUSHER_QUEUE_MAX);
        s_job_free(j);
        return -1;
    }
    if (self->in_tail)
        self->in_tail->next = j;
    else
        self->in_head = j;
    self->in_tail = j;
    self->count++;
    pthread_mutex_unlock(&self->mu);
    if (!self->started) {
        if (pthread_create(&self->thread, NULL, s_run, self) != 0) {
            pl_error("push: cannot start the delivery thread");
            return -1; /* the job stays queued; freed at destroy */
        }
        self->started = true;
    }
    curl_multi_wakeup(self->multi);
    return 0;
fail:
    pl_warn("push: malformed stored target dropped");
    json_decref(t);
    s_job_free(j);
    return -1;
}

void *shard_pusher_gone(shard_pusher_t *self, size_t *len)
{
    pthread_mutex_lock(&self->mu);
    gone_t *g = self->gone;
    if (g)
        self->gone = g->next;
    pthread_mutex_unlock(&self->mu);
    if (!g)
        return NULL;
    *len = g->len;
    memmove(g, g->key, g->len); /* hand back the key bytes in the same allocation */
    return g;
}

size_t shard_pusher_delivered(shard_pusher_t *self)
{
    pthread_mutex_lock(&self->mu);
    size_t n = self->delivered;
    pthread_mutex_unlock(&self->mu);
    return n;
}
