/* pl_webpush — the cryptography of Web Push (RFC 8291 message encryption, `aes128gcm`
 * content coding of RFC 8188, VAPID of RFC 8292), on OpenSSL 3's EVP APIs.
 *
 * Pure functions without shared state: any thread (the shard calls them on its pusher
 * thread). Keys are EVP_PKEY P-256 keys; raw points are uncompressed (65 bytes, 0x04). */
#ifndef PL_WEBPUSH_H
#define PL_WEBPUSH_H
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define WEBPUSH_POINT_LEN 65
#define WEBPUSH_AUTH_LEN 16
#define WEBPUSH_SALT_LEN 16
#define WEBPUSH_RECORD_SIZE 4096
/* Largest plaintext of one record: rs - 16 (tag) - 1 (delimiter). */
#define WEBPUSH_PLAIN_MAX (WEBPUSH_RECORD_SIZE - 17)

/* Read a P-256 private key from a PEM file (SEC1 "EC PRIVATE KEY" or PKCS#8). NULL on
 * failure (logged). Caller frees with EVP_PKEY_free. */
EVP_PKEY *webpush_key_load(const char *path);
/* A P-256 key from a raw private scalar (32 bytes) and its public point (tests). */
EVP_PKEY *webpush_key_from_raw(const unsigned char priv[32],
                               const unsigned char pub[WEBPUSH_POINT_LEN]);
/* The uncompressed public point of key into out. 0 or -1. */
int webpush_key_public(EVP_PKEY *key, unsigned char out[WEBPUSH_POINT_LEN]);
/* True when p is an uncompressed point on P-256. */
int webpush_point_valid(const unsigned char p[WEBPUSH_POINT_LEN]);

/* base64url without padding of len bytes, malloc'd (caller frees); NULL on OOM. */
char *webpush_b64url(const unsigned char *in, size_t len);
/* Decode base64url (padding '=' tolerated) into out (cap bytes). Returns the length or -1. */
long webpush_b64url_decode(const char *in, unsigned char *out, size_t cap);

/* Encrypt plain (at most WEBPUSH_PLAIN_MAX bytes) for the subscription (ua_pub, auth) as
 * one `aes128gcm` record of size 4096 (RFC 8291 §3.4): salt(16) rs(4) idlen(1) keyid(65)
 * ciphertext. as_key (the sender's ephemeral key pair) and salt may be NULL: then a fresh
 * key and random salt are used, as production must (tests pass RFC 8291 Appendix A's).
 * *out is malloc'd (caller frees). 0 or -1. */
int webpush_encrypt(const unsigned char ua_pub[WEBPUSH_POINT_LEN],
                    const unsigned char auth[WEBPUSH_AUTH_LEN], const unsigned char *plain,
                    size_t len, EVP_PKEY *as_key, const unsigned char *salt, unsigned char **out,
                    size_t *out_len);

/* The Authorization header value `vapid t=<JWT>, k=<public key>` (RFC 8292) for a request
 * to endpoint: aud = the endpoint's origin, exp = now_s + 12 h, sub = subject; signed
 * ES256 with key. malloc'd (caller frees); NULL on failure (malformed endpoint). */
char *webpush_vapid(EVP_PKEY *key, const char *endpoint, const char *subject, int64_t now_s);

/* A private key (any type) from PEM text (PKCS#8 or traditional). NULL on failure. Caller
 * frees with EVP_PKEY_free. */
EVP_PKEY *webpush_pem_private(const char *pem);
/* A compact JWS "<b64url header>.<b64url claims>.<b64url signature>" of the two JSON
 * texts, signed RS256 with an RSA key or ES256 with a P-256 key (the header must name the
 * matching alg). malloc'd (caller frees); NULL on failure. Used for VAPID, the FCM OAuth2
 * assertion and the APNs provider token. */
char *webpush_jwt(EVP_PKEY *key, const char *header, const char *claims);

#endif
