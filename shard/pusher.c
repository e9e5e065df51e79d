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
#define BACKOFF_MS 1000             /* first retry; doubles each time */
#define BACKOFF_MAX_MS (600 * 1000) /* and never waits longer than this, */
#define RETRY_AFTER_MAX_S 3600      /* nor longer than an hour for a Retry-After */
#define RESP_MAX 4096               /* bytes of an answer kept (error codes) */
#define TOKEN_RETRY_MS 1000         /* FCM token endpoint failed: ask again after */
#define WEBPUSH_TTL "TTL: 86400"

typedef enum { JOB_WEBHOOK, JOB_WEBPUSH, JOB_FCM, JOB_APNS, JOB_FCM_TOKEN } job_kind_t;
static const char *const s_kind_names[] = {"webhook", "webpush", "fcm", "apns", "fcm-token"};

typedef struct job {
    struct job *next;
    job_kind_t kind;
    char *url; /* webhook url, webpush endpoint; fcm/apns: the device token */
    unsigned char p256dh[WEBPUSH_POINT_LEN], auth[WEBPUSH_AUTH_LEN];
    char *apns_topic; /* apns: the app's bundle id */
    bool sandbox;     /* apns */
    char *payload;
    char topic[48]; /* collapse id: Web Push Topic, FCM collapse_key, apns-collapse-id */
    void *key;
    size_t key_len;
    void *pending; /* durable delivery record, handed back when over; NULL: none */
    size_t pending_len;
    int64_t version;
    int tries;     /* attempts finished */
    int64_t due;   /* pl_mono_ms of the next attempt */
    int64_t first; /* pl_mono_ms of the first attempt (give up after SHARD_PUSHER_GIVE_UP_MS) */
    bool finished;
    /* thread only */
    bool wait_token; /* fcm: waiting for an access token */
    CURL *easy;      /* while in flight */
    shard_provider_req_t req;
    struct curl_slist *hdrs;
    unsigned char *body; /* webpush: the encrypted record (kept for retries) */
    size_t body_len;
    char resp[RESP_MAX + 1];
    size_t resp_len;
    char err[CURL_ERROR_SIZE];
} job_t;

typedef struct gone {
    struct gone *next;
    size_t len;
    int64_t version;
    char key[];
} gone_t;

struct _shard_pusher_t {
    pthread_mutex_t mu;
    /* guarded by mu */
    bool stop;
    job_t *in_head, *in_tail; /* handed over, not yet taken by the thread */
    size_t count;             /* jobs alive (incoming + active) */
    gone_t *gone;             /* store keys of targets found gone */
    gone_t *finished;         /* pending keys of deliveries that are over */
    size_t delivered;
    /* set on the loop thread before the thread starts */
    bool started;
    pthread_t thread;
    CURLM *multi;
    EVP_PKEY *vapid;
    char *subject;
    shard_providers_t *providers;
    /* thread only */
    job_t *active;
    job_t *token_job;  /* the FCM token request in flight, or NULL */
    int64_t token_due; /* no new token request before this (after a failure) */
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
    free(j->apns_topic);
    free(j->payload);
    free(j->key);
    free(j->pending);
    free(j->body);
    shard_provider_req_clear(&j->req);
    curl_slist_free_all(j->hdrs);
    free(j);
}

shard_pusher_t *shard_pusher_new(EVP_PKEY *vapid_key, const char *subject,
                                 shard_providers_t *providers)
{
    pthread_once(&s_curl_once, s_curl_init);
    shard_pusher_t *self = calloc(1, sizeof *self);
    if (!self)
        goto fail;
    pthread_mutex_init(&self->mu, NULL);
    self->multi = curl_multi_init();
    /* No HTTP/2 multiplexing: Debian 12's libcurl 7.88.1 fails a second stream started on
     * a prior-knowledge h2 connection ("Error in the HTTP2 framing layer", seen in
     * 24-push-mobile); connections are still reused one request at a time. */
    if (self->multi)
        curl_multi_setopt(self->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    self->subject = strdup(subject ? subject : "mailto:postmaster@localhost");
    self->vapid = vapid_key;
    self->providers = providers;
    if (!self->multi || !self->subject) {
        shard_pusher_destroy(&self);
        return NULL;
    }
    return self;
fail:
    EVP_PKEY_free(vapid_key);
    shard_providers_destroy(&providers);
    return NULL;
}

static void s_easy_drop(shard_pusher_t *self, job_t *j)
{
    if (j && j->easy) {
        curl_multi_remove_handle(self->multi, j->easy);
        curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
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
        s_easy_drop(self, j);
        s_job_free(j);
    }
    s_easy_drop(self, self->token_job);
    s_job_free(self->token_job);
    for (job_t *j = self->in_head, *next; j; j = next) {
        next = j->next;
        s_job_free(j);
    }
    for (gone_t *g = self->gone, *next; g; g = next) {
        next = g->next;
        free(g);
    }
    for (gone_t *g = self->finished, *next; g; g = next) {
        next = g->next;
        free(g);
    }
    if (self->multi)
        curl_multi_cleanup(self->multi);
    EVP_PKEY_free(self->vapid);
    shard_providers_destroy(&self->providers);
    free(self->subject);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

bool shard_pusher_accepts(const shard_pusher_t *self, const char *kind)
{
    if (strcmp(kind, "fcm") == 0)
        return shard_providers_fcm_configured(self->providers);
    if (strcmp(kind, "apns") == 0)
        return shard_providers_apns_configured(self->providers);
    return true;
}

/* ---- the thread -------------------------------------------------------------------- */

static size_t s_on_body(char *data, size_t size, size_t n, void *arg)
{
    job_t *j = arg;
    size_t len = size * n, room = RESP_MAX - j->resp_len;
    size_t take = len < room ? len : room;
    memcpy(j->resp + j->resp_len, data, take);
    j->resp_len += take;
    j->resp[j->resp_len] = 0;
    return len; /* the rest is read and ignored */
}

/* The Web Push request of j into j->hdrs/j->body. 0 or -1. */
static int s_webpush_prepare(shard_pusher_t *self, job_t *j)
{
    if (!self->vapid) {
        pl_warn("push: no VAPID key (--vapid-key): Web Push target dropped");
        return -1;
    }
    if (!j->body && webpush_encrypt(j->p256dh, j->auth, (const unsigned char *)j->payload,
                                    strlen(j->payload), NULL, NULL, &j->body, &j->body_len) != 0) {
        pl_warn("push: cannot encrypt for %s", j->url);
        return -1;
    }
    char *v = webpush_vapid(self->vapid, j->url, self->subject, pl_now_ms() / 1000);
    size_t n = v ? strlen(v) + 16 : 0;
    char *auth = v ? malloc(n) : NULL;
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
    return 0;
}

/* Set up j's request and add it to the multi handle. 0 started, 1 waits for an FCM access
 * token, -1 j cannot be sent. */
static int s_start(shard_pusher_t *self, job_t *j)
{
    int64_t now_s = pl_now_ms() / 1000;
    const char *url = j->url, *body = NULL;
    size_t len = 0;
    bool http2 = false;
    curl_slist_free_all(j->hdrs);
    j->hdrs = NULL;
    shard_provider_req_clear(&j->req);
    switch (j->kind) {
    case JOB_WEBPUSH:
        if (s_webpush_prepare(self, j) != 0)
            return -1;
        body = (const char *)j->body;
        len = j->body_len;
        break;
    case JOB_WEBHOOK:
        j->hdrs = curl_slist_append(j->hdrs, "Content-Type: application/json");
        body = j->payload;
        len = strlen(body);
        break;
    case JOB_FCM: {
        int rc = shard_providers_fcm_request(self->providers, j->url, j->payload, j->topic, now_s,
                                             &j->req);
        if (rc != 0)
            return rc;
        break;
    }
    case JOB_APNS:
        if (shard_providers_apns_request(self->providers, j->url, j->apns_topic, j->sandbox,
                                         j->payload, j->topic, now_s, &j->req) != 0)
            return -1;
        break;
    case JOB_FCM_TOKEN:
        if (shard_providers_fcm_token_request(self->providers, now_s, &j->req) != 0)
            return -1;
        break;
    }
    if (j->req.url) { /* a provider request: its own URL, body and headers */
        url = j->req.url;
        body = j->req.body;
        len = strlen(body);
        http2 = j->req.http2;
    } else
        j->hdrs = curl_slist_append(j->hdrs, "Expect:"); /* no 100-continue wait */
    CURL *e = curl_easy_init();
    if (!e || (!j->req.url && !j->hdrs)) {
        curl_easy_cleanup(e);
        return -1;
    }
    j->err[0] = 0;
    j->resp_len = 0;
    j->resp[0] = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->req.url ? j->req.hdrs : j->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "parley-shard");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    if (http2) /* APNs speaks only HTTP/2; cleartext test services: h2c, prior knowledge */
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                         strncmp(url, "http://", 7) == 0 ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                                         : (long)CURL_HTTP_VERSION_2TLS);
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return -1;
    }
    j->easy = e;
    return 0;
}

/* Push key onto *list (under the lock). */
static void s_hand(shard_pusher_t *self, gone_t **list, const void *key, size_t len,
                   int64_t version)
{
    gone_t *g = malloc(sizeof *g + len);
    if (!g)
        return;
    g->len = len;
    g->version = version;
    memcpy(g->key, key, len);
    pthread_mutex_lock(&self->mu);
    g->next = *list;
    *list = g;
    pthread_mutex_unlock(&self->mu);
}

static void s_hand_back(shard_pusher_t *self, job_t *j)
{
    s_hand(self, &self->gone, j->key, j->key_len, 0);
}

/* j is over (delivered, gone, given up): its durable record may go. */
static void s_over(shard_pusher_t *self, job_t *j)
{
    j->finished = true;
    if (j->pending)
        s_hand(self, &self->finished, j->pending, j->pending_len, j->version);
}

/* One attempt of j ended (status 0: no HTTP answer); retry_after_s: the answer's
 * Retry-After in seconds, or -1. */
static void s_done(shard_pusher_t *self, job_t *j, long status, long retry_after_s)
{
    s_easy_drop(self, j);
    j->tries++;
    const char *what = j->kind == JOB_FCM || j->kind == JOB_APNS ? s_kind_names[j->kind] : j->url;
    switch (shard_providers_outcome(s_kind_names[j->kind], status, j->resp)) {
    case SHARD_PUSH_OK:
        pl_debug("push: delivered to %s (%ld)", what, status);
        pthread_mutex_lock(&self->mu);
        self->delivered++;
        pthread_mutex_unlock(&self->mu);
        s_over(self, j);
        return;
    case SHARD_PUSH_GONE:
        pl_info("push: %s answered %ld %.80s: target removed", what, status, j->resp);
        s_hand_back(self, j);
        s_over(self, j);
        return;
    case SHARD_PUSH_REAUTH:
        /* our token was refused: a new one, then once more at once (counts as a try) */
        if (j->kind == JOB_FCM)
            shard_providers_fcm_token_drop(self->providers);
        else
            shard_providers_apns_token_drop(self->providers);
        if (j->tries < SHARD_PUSHER_TRIES) {
            j->due = pl_mono_ms();
            return;
        }
        break;
    case SHARD_PUSH_RETRY:
        break;
    }
    int64_t now = pl_mono_ms();
    if (j->tries >= SHARD_PUSHER_TRIES || now - j->first >= SHARD_PUSHER_GIVE_UP_MS) {
        pl_warn("push: %s failed for %lld s (%d tries, last: %ld %s): target removed", what,
                (long long)((now - j->first) / 1000), j->tries, status, j->err);
        s_hand_back(self, j);
        s_over(self, j);
        return;
    }
    int64_t wait = (int64_t)BACKOFF_MS << (j->tries - 1 < 20 ? j->tries - 1 : 20);
    if (wait > BACKOFF_MAX_MS)
        wait = BACKOFF_MAX_MS;
    if (retry_after_s >= 0) /* the service said when: not before that, within reason */
        wait = (retry_after_s < RETRY_AFTER_MAX_S ? retry_after_s : RETRY_AFTER_MAX_S) * 1000;
    pl_info("push: %s failed (%ld %s), retry in %lld ms", what, status, j->err, (long long)wait);
    j->due = now + wait;
}

/* The FCM token request ended. Jobs waiting for it start now, or count a failed try. */
static void s_token_done(shard_pusher_t *self, long status)
{
    job_t *t = self->token_job;
    s_easy_drop(self, t);
    int rc = shard_providers_fcm_token_done(self->providers, status, t->resp, pl_now_ms() / 1000);
    s_job_free(t);
    self->token_job = NULL;
    if (rc != 0)
        self->token_due = pl_mono_ms() + TOKEN_RETRY_MS;
    for (job_t *j = self->active; j; j = j->next) {
        if (!j->wait_token)
            continue;
        j->wait_token = false;
        if (rc == 0)
            j->due = pl_mono_ms();
        else
            s_done(self, j, 0, -1);
    }
}

/* An FCM job needs a token: ask for one unless a request is under way or backing off. */
static void s_token_want(shard_pusher_t *self, int64_t now)
{
    if (self->token_job || now < self->token_due)
        return;
    job_t *t = calloc(1, sizeof *t);
    if (!t)
        return;
    t->kind = JOB_FCM_TOKEN;
    self->token_job = t;
    if (s_start(self, t) != 0) {
        pl_warn("push: cannot make the FCM token request");
        s_job_free(t);
        self->token_job = NULL;
        self->token_due = now + TOKEN_RETRY_MS;
    }
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
            if (j->easy || j->wait_token || j->finished)
                continue;
            if (j->due <= now) {
                if (!j->first)
                    j->first = now;
                int rc = s_start(self, j);
                if (rc == 1) {
                    j->wait_token = true;
                    s_token_want(self, now);
                    if (!self->token_job) /* backing off: look again then */
                        j->wait_token = false, j->due = self->token_due;
                } else if (rc != 0)
                    j->finished = true;
            } else if (j->due < wake)
                wake = j->due;
        }
        if (!self->token_job && self->token_due > now && self->token_due < wake)
            wake = self->token_due;
        int running = 0;
        curl_multi_perform(self->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(self->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            job_t *j = NULL;
            long status = 0;
            curl_off_t retry_after = -1;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            if (m->data.result != CURLE_OK && j && !j->err[0])
                snprintf(j->err, sizeof j->err, "%s", curl_easy_strerror(m->data.result));
            if (m->data.result == CURLE_OK) {
                curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
                if (curl_easy_getinfo(m->easy_handle, CURLINFO_RETRY_AFTER, &retry_after) !=
                        CURLE_OK ||
                    retry_after <= 0)
                    retry_after = -1;
            }
            if (j == self->token_job) {
                s_token_done(self, status);
                wake = pl_mono_ms();
                continue;
            }
            s_done(self, j, status, (long)retry_after);
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

/* Fill j from the stored target t. 0, or -1 (malformed or unknown kind). */
static int s_job_target(job_t *j, json_t *t)
{
    const char *kind = json_string_value(json_object_get(t, "kind"));
    if (!kind)
        return -1;
    if (strcmp(kind, "webpush") == 0) {
        json_t *keys = json_object_get(t, "keys");
        const char *p256dh = json_string_value(json_object_get(keys, "p256dh"));
        const char *auth = json_string_value(json_object_get(keys, "auth"));
        const char *endpoint = json_string_value(json_object_get(t, "endpoint"));
        if (!p256dh || !auth || !endpoint ||
            webpush_b64url_decode(p256dh, j->p256dh, sizeof j->p256dh) != WEBPUSH_POINT_LEN ||
            webpush_b64url_decode(auth, j->auth, sizeof j->auth) != WEBPUSH_AUTH_LEN)
            return -1;
        j->kind = JOB_WEBPUSH;
        j->url = strdup(endpoint);
    } else if (strcmp(kind, "webhook") == 0) {
        const char *url = json_string_value(json_object_get(t, "url"));
        if (!url)
            return -1;
        j->kind = JOB_WEBHOOK;
        j->url = strdup(url);
    } else if (strcmp(kind, "fcm") == 0 || strcmp(kind, "apns") == 0) {
        const char *token = json_string_value(json_object_get(t, "token"));
        if (!token)
            return -1;
        j->kind = kind[0] == 'f' ? JOB_FCM : JOB_APNS;
        j->url = strdup(token);
        if (j->kind == JOB_APNS) {
            const char *topic = json_string_value(json_object_get(t, "topic"));
            if (!topic || !(j->apns_topic = strdup(topic)))
                return -1;
            j->sandbox = json_is_true(json_object_get(t, "sandbox"));
        }
    } else
        return -1;
    return j->url ? 0 : -1;
}

int shard_pusher_queue(shard_pusher_t *self, const shard_pusher_job_t *q)
{
    json_t *t = json_loads(q->target, 0, NULL);
    job_t *j = calloc(1, sizeof *j);
    if (!j || !t || s_job_target(j, t) != 0)
        goto fail;
    if ((j->kind == JOB_FCM && !shard_providers_fcm_configured(self->providers)) ||
        (j->kind == JOB_APNS && !shard_providers_apns_configured(self->providers))) {
        pl_warn("push: %s target without %s credentials: dropped", s_kind_names[j->kind],
                s_kind_names[j->kind]);
        json_decref(t);
        s_job_free(j);
        return -1;
    }
    j->payload = strdup(q->payload);
    if (q->topic)
        snprintf(j->topic, sizeof j->topic, "%s", q->topic);
    j->key = malloc(q->key_len ? q->key_len : 1);
    if (q->pending && (j->pending = malloc(q->pending_len ? q->pending_len : 1))) {
        memcpy(j->pending, q->pending, q->pending_len);
        j->pending_len = q->pending_len;
    }
    if (!j->payload || !j->key || (q->pending && !j->pending))
        goto fail;
    memcpy(j->key, q->key, q->key_len);
    j->key_len = q->key_len;
    j->version = q->version;
    /* wall clock in the records, monotonic here */
    int64_t now = pl_mono_ms(), wall = pl_now_ms();
    j->due = q->due_ms > wall ? now + (q->due_ms - wall) : now;
    if (q->first_ms > 0 && q->first_ms < wall)
        j->first = now - (wall - q->first_ms);
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

/* Take one entry of *list (under the lock): its key bytes, moved to the start of the same
 * allocation; NULL when empty. */
static void *s_take(shard_pusher_t *self, gone_t **list, size_t *len, int64_t *version)
{
    pthread_mutex_lock(&self->mu);
    gone_t *g = *list;
    if (g)
        *list = g->next;
    pthread_mutex_unlock(&self->mu);
    if (!g)
        return NULL;
    *len = g->len;
    if (version)
        *version = g->version;
    memmove(g, g->key, g->len);
    return g;
}

void *shard_pusher_finished(shard_pusher_t *self, size_t *len, int64_t *version)
{
    return s_take(self, &self->finished, len, version);
}

void *shard_pusher_gone(shard_pusher_t *self, size_t *len)
{
    return s_take(self, &self->gone, len, NULL);
}

size_t shard_pusher_delivered(shard_pusher_t *self)
{
    pthread_mutex_lock(&self->mu);
    size_t n = self->delivered;
    pthread_mutex_unlock(&self->mu);
    return n;
}
