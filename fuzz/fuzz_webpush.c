/* fuzz_webpush — the Web Push crypto inputs (proto/pl_webpush): what a client supplies in
 * push_register (p256dh point and auth secret, base64url), the endpoint URL that VAPID
 * signs for, and PEM key text (FCM service-account keys from the configuration).
 *
 * An input is a selector byte, then fields separated by '\n'. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"
#include "pl_webpush.h"

/* RFC 8291 Appendix A's application server key pair (a fixed P-256 key). */
static const char AS_PRIV[] = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
static const char AS_PUB[] =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
static EVP_PKEY *s_key;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pl_log_init("fuzz-webpush", PL_ERROR);
    unsigned char priv[32], pub[WEBPUSH_POINT_LEN];
    if (webpush_b64url_decode(AS_PRIV, priv, sizeof priv) != 32 ||
        webpush_b64url_decode(AS_PUB, pub, sizeof pub) != WEBPUSH_POINT_LEN)
        abort();
    s_key = webpush_key_from_raw(priv, pub);
    if (!s_key)
        abort();
    return 0;
}

/* The next '\n'-terminated field of [*p, end) as a malloc'd string. */
static char *s_field(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl ? nl : end;
    char *f = strndup((const char *)*p, (size_t)(stop - *p));
    *p = nl ? nl + 1 : end;
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1, *end = data + size;
    switch (data[0] % 4) {
    case 0: { /* push_register: p256dh, auth, then encrypt a payload for them */
        char *p256dh = s_field(&p, end), *auth = s_field(&p, end);
        unsigned char point[WEBPUSH_POINT_LEN + 8], secret[WEBPUSH_AUTH_LEN + 8];
        long pl = p256dh ? webpush_b64url_decode(p256dh, point, sizeof point) : -1;
        long al = auth ? webpush_b64url_decode(auth, secret, sizeof secret) : -1;
        if (pl > (long)sizeof point || al > (long)sizeof secret)
            abort();
        if (pl == WEBPUSH_POINT_LEN && webpush_point_valid(point) && al == WEBPUSH_AUTH_LEN) {
            unsigned char *out = NULL;
            size_t out_len = 0;
            size_t plain = (size_t)(end - p);
            if (plain > WEBPUSH_PLAIN_MAX)
                plain = WEBPUSH_PLAIN_MAX;
            if (webpush_encrypt(point, secret, p, plain, NULL, NULL, &out, &out_len) == 0) {
                if (out_len < 16 + 4 + 1 + WEBPUSH_POINT_LEN + plain + 17)
                    abort();
                free(out);
            }
        }
        if (pl > 0) { /* base64url round trip of whatever decoded */
            char *again = webpush_b64url(point, (size_t)pl);
            unsigned char back[WEBPUSH_POINT_LEN + 8];
            if (again && webpush_b64url_decode(again, back, sizeof back) != pl)
                abort();
            if (again && memcmp(back, point, (size_t)pl) != 0)
                abort();
            free(again);
        }
        free(p256dh);
        free(auth);
        break;
    }
    case 1: { /* VAPID for an endpoint and a subject */
        char *endpoint = s_field(&p, end), *subject = s_field(&p, end);
        if (endpoint && subject)
            free(webpush_vapid(s_key, endpoint, subject, 1700000000));
        free(endpoint);
        free(subject);
        break;
    }
    case 2: { /* PEM text of a private key, then a JWT with header and claims */
        char *pem = strndup((const char *)p, (size_t)(end - p));
        EVP_PKEY *k = pem ? webpush_pem_private(pem) : NULL;
        if (k) {
            free(webpush_jwt(k, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{}"));
            EVP_PKEY_free(k);
        }
        free(pem);
        break;
    }
    case 3: { /* JWT header and claims texts, signed with the P-256 key */
        char *header = s_field(&p, end), *claims = s_field(&p, end);
        if (header && claims)
            free(webpush_jwt(s_key, header, claims));
        free(header);
        free(claims);
        break;
    }
    }
    return 0;
}
