/* providers — what FCM (HTTP v1) and APNs (HTTP/2 provider API) need beyond plain HTTP:
 * credentials, the signed tokens (an OAuth2 access token for FCM obtained with an RS256
 * service-account JWT; an ES256 provider JWT for APNs, refreshed every 30 min), the
 * request shapes, and what an answer means (docs/internals.md "Push notifications").
 *
 * Thread: shard_providers_new/destroy and the *_configured queries on the loop thread
 * (before the pusher thread starts, and after it stopped); everything else only on the
 * pusher thread. Owned by the pusher. */
#ifndef SHARD_PROVIDERS_H
#define SHARD_PROVIDERS_H
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *fcm_url;          /* default https://fcm.googleapis.com */
    const char *fcm_project;      /* default: the credentials' project_id */
    const char *fcm_credentials;  /* service-account JSON; NULL: FCM off */
    const char *apns_url;         /* default https://api.push.apple.com */
    const char *apns_sandbox_url; /* default https://api.sandbox.push.apple.com */
    const char *apns_key;         /* P-256 .p8/PEM; NULL: APNs off */
    const char *apns_key_id;
    const char *apns_team_id;
} shard_providers_cfg_t;

typedef struct _shard_providers_t shard_providers_t;

/* NULL on failure: a configured provider whose credentials cannot be read (logged). */
shard_providers_t *shard_providers_new(const shard_providers_cfg_t *cfg);
void shard_providers_destroy(shard_providers_t **self_p);
bool shard_providers_fcm_configured(const shard_providers_t *self);
bool shard_providers_apns_configured(const shard_providers_t *self);

/* One HTTP request to make: malloc'd url and body, a header list; free with
 * shard_provider_req_clear. http2: use HTTP/2 (prior knowledge for http:// URLs). */
typedef struct {
    char *url;
    char *body;
    struct curl_slist *hdrs;
    bool http2;
} shard_provider_req_t;
void shard_provider_req_clear(shard_provider_req_t *r);

/* FCM send of payload ({"conv","seq","from","preview","unread"} JSON) to token, collapsed
 * under collapse. Returns 0 (r filled), 1 (no valid access token: ask for one with
 * shard_providers_fcm_token_request and try again once shard_providers_fcm_token_done
 * succeeded) or -1 (cannot build it). now_s: wall clock seconds. */
int shard_providers_fcm_request(shard_providers_t *self, const char *token, const char *payload,
                                const char *collapse, int64_t now_s, shard_provider_req_t *r);
/* The OAuth2 token request (jwt-bearer grant). 0 or -1. */
int shard_providers_fcm_token_request(shard_providers_t *self, int64_t now_s,
                                      shard_provider_req_t *r);
/* The token endpoint answered status (0: transport failure) with body resp. 0 when an
 * access token is now held, -1 otherwise (logged). */
int shard_providers_fcm_token_done(shard_providers_t *self, long status, const char *resp,
                                   int64_t now_s);
/* Forget the access token (FCM answered 401). */
void shard_providers_fcm_token_drop(shard_providers_t *self);

/* APNs alert for payload to device token under topic (the app's bundle id), sandbox or
 * production. 0 or -1. */
int shard_providers_apns_request(shard_providers_t *self, const char *token, const char *topic,
                                 bool sandbox, const char *payload, const char *collapse,
                                 int64_t now_s, shard_provider_req_t *r);
/* Force a new provider JWT at the next request (APNs answered ExpiredProviderToken). */
void shard_providers_apns_token_drop(shard_providers_t *self);

typedef enum {
    SHARD_PUSH_OK,     /* delivered */
    SHARD_PUSH_GONE,   /* the target is no more: remove it */
    SHARD_PUSH_RETRY,  /* try again later (429, 5xx, transport, other) */
    SHARD_PUSH_REAUTH, /* our token was refused: renew it, then retry */
} shard_push_outcome_t;

/* What an answer of status (0: transport failure) with body resp means. kind: "webhook",
 * "webpush", "fcm" or "apns". */
shard_push_outcome_t shard_providers_outcome(const char *kind, long status, const char *resp);

#endif
