/* pl_webpush — RFC 8291 encryption and RFC 8292 VAPID on OpenSSL 3. See pl_webpush.h. */
#include "pl_webpush.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl_log.h"

#define JWT_TTL_S (12 * 3600)

EVP_PKEY *webpush_key_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        pl_error("cannot open the VAPID key %s", path);
        return NULL;
    }
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    unsigned char pub[WEBPUSH_POINT_LEN];
    char group[32] = "";
    size_t glen = 0;
    if (!key || !EVP_PKEY_is_a(key, "EC") ||
        !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                        &glen) ||
        strcmp(group, "prime256v1") != 0 || webpush_key_public(key, pub) != 0) {
        pl_error("%s is not a P-256 private key in PEM", path);
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* A key from OSSL params: group plus the given public point and, if priv, the scalar. */
static EVP_PKEY *s_key_from(const unsigned char *priv, const unsigned char *pub)
{
    EVP_PKEY *key = NULL;
    BIGNUM *d = priv ? BN_bin2bn(priv, 32, NULL) : NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!bld || !ctx || (priv && !d) ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, WEBPUSH_POINT_LEN) ||
        (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) ||
        !(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
        key = NULL;
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_clear_free(d);
    return key;
}

EVP_PKEY *webpush_key_from_raw(const unsigned char priv[32],
                               const unsigned char pub[WEBPUSH_POINT_LEN])
{
    return s_key_from(priv, pub);
}

int webpush_key_public(EVP_PKEY *key, unsigned char out[WEBPUSH_POINT_LEN])
{
    size_t len = 0;
    if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, out,
                                         WEBPUSH_POINT_LEN, &len) ||
        len != WEBPUSH_POINT_LEN || out[0] != 0x04)
        return -1;
    return 0;
}

int webpush_point_valid(const unsigned char p[WEBPUSH_POINT_LEN])
{
    if (p[0] != 0x04)
        return 0;
    EVP_PKEY *key = s_key_from(NULL, p);
    int ok = 0;
    if (key) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        ok = ctx && EVP_PKEY_public_check(ctx) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    EVP_PKEY_free(key);
    ERR_clear_error();
    return ok;
}

char *webpush_b64url(const unsigned char *in, size_t len)
{
    size_t cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = malloc(cap);
    if (out)
        sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

long webpush_b64url_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t n = strlen(in);
    while (n && in[n - 1] == '=')
        n--;
    size_t len = 0;
    const char *end = NULL;
    if (sodium_base642bin(out, cap, in, n, NULL, &len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != in + n)
        return -1;
    return (long)len;
}

/* HKDF-SHA256 (extract and expand) of ikm with salt and info into out (len bytes). */
static int s_hkdf(const unsigned char *salt, size_t salt_len, const unsigned char *ikm,
                  size_t ikm_len, const unsigned char *info, size_t info_len, unsigned char *out,
                  size_t len)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len),
        OSSL_PARAM_construct_end()};
    int rc = ctx && EVP_KDF_derive(ctx, out, len, params) > 0 ? 0 : -1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

static EVP_PKEY *s_keygen(void)
{
    return EVP_EC_gen("prime256v1");
}

int webpush_encrypt(const unsigned char ua_pub[WEBPUSH_POINT_LEN],
                    const unsigned char auth[WEBPUSH_AUTH_LEN], const unsigned char *plain,
                    size_t len, EVP_PKEY *as_key, const unsigned char *salt_in, unsigned char **out,
                    size_t *out_len)
{
    int rc = -1;
    EVP_PKEY *ephemeral = NULL, *peer = NULL;
    EVP_PKEY_CTX *dctx = NULL;
    EVP_CIPHER_CTX *cctx = NULL;
    unsigned char *buf = NULL;
    unsigned char ecdh[32], ikm[32], cek[16], nonce[12], salt[WEBPUSH_SALT_LEN];
    unsigned char as_pub[WEBPUSH_POINT_LEN];
    unsigned char key_info[14 + 2 * WEBPUSH_POINT_LEN];
    size_t ecdh_len = sizeof ecdh;
    *out = NULL;
    if (len > WEBPUSH_PLAIN_MAX)
        return -1;
    if (!as_key && !(as_key = ephemeral = s_keygen()))
        goto done;
    if (salt_in)
        memcpy(salt, salt_in, sizeof salt);
    else if (RAND_bytes(salt, sizeof salt) != 1)
        goto done;
    if (webpush_key_public(as_key, as_pub) != 0 || !(peer = s_key_from(NULL, ua_pub)))
        goto done;
    /* ecdh_secret = ECDH(as_private, ua_public) */
    dctx = EVP_PKEY_CTX_new_from_pkey(NULL, as_key, NULL);
    if (!dctx || EVP_PKEY_derive_init(dctx) <= 0 || EVP_PKEY_derive_set_peer(dctx, peer) <= 0 ||
        EVP_PKEY_derive(dctx, ecdh, &ecdh_len) <= 0 || ecdh_len != 32)
        goto done;
    /* IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" 0x00 ua_public as_public, 32) */
    memcpy(key_info, "WebPush: info", 14); /* with its NUL */
    memcpy(key_info + 14, ua_pub, WEBPUSH_POINT_LEN);
    memcpy(key_info + 14 + WEBPUSH_POINT_LEN, as_pub, WEBPUSH_POINT_LEN);
    if (s_hkdf(auth, WEBPUSH_AUTH_LEN, ecdh, 32, key_info, sizeof key_info, ikm, 32) != 0 ||
        s_hkdf(salt, sizeof salt, ikm, 32, (const unsigned char *)"Content-Encoding: aes128gcm", 28,
               cek, 16) != 0 ||
        s_hkdf(salt, sizeof salt, ikm, 32, (const unsigned char *)"Content-Encoding: nonce", 24,
               nonce, 12) != 0)
        goto done;
    size_t head = WEBPUSH_SALT_LEN + 4 + 1 + WEBPUSH_POINT_LEN;
    size_t total = head + len + 1 + 16;
    buf = malloc(total);
    if (!buf)
        goto done;
    memcpy(buf, salt, WEBPUSH_SALT_LEN);
    buf[16] = (WEBPUSH_RECORD_SIZE >> 24) & 0xff;
    buf[17] = (WEBPUSH_RECORD_SIZE >> 16) & 0xff;
    buf[18] = (WEBPUSH_RECORD_SIZE >> 8) & 0xff;
    buf[19] = WEBPUSH_RECORD_SIZE & 0xff;
    buf[20] = WEBPUSH_POINT_LEN;
    memcpy(buf + 21, as_pub, WEBPUSH_POINT_LEN);
    /* one record, the last: plaintext then the delimiter 0x02, no padding */
    unsigned char delim = 0x02;
    int n1 = 0, n2 = 0, n3 = 0;
    cctx = EVP_CIPHER_CTX_new();
    if (!cctx || EVP_EncryptInit_ex(cctx, EVP_aes_128_gcm(), NULL, cek, nonce) != 1 ||
        EVP_EncryptUpdate(cctx, buf + head, &n1, plain, (int)len) != 1 ||
        EVP_EncryptUpdate(cctx, buf + head + n1, &n2, &delim, 1) != 1 ||
        EVP_EncryptFinal_ex(cctx, buf + head + n1 + n2, &n3) != 1 ||
        (size_t)(n1 + n2 + n3) != len + 1 ||
        EVP_CIPHER_CTX_ctrl(cctx, EVP_CTRL_GCM_GET_TAG, 16, buf + head + len + 1) != 1)
        goto done;
    *out = buf;
    *out_len = total;
    buf = NULL;
    rc = 0;
done:
    if (rc != 0)
        ERR_clear_error();
    OPENSSL_cleanse(ecdh, sizeof ecdh);
    OPENSSL_cleanse(ikm, sizeof ikm);
    OPENSSL_cleanse(cek, sizeof cek);
    free(buf);
    EVP_CIPHER_CTX_free(cctx);
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(ephemeral);
    return rc;
}

/* The origin (scheme://host[:port]) of url into out; -1 if url has none. */
static int s_origin(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://");
    if (!p || p == url)
        return -1;
    p += 3;
    size_t n = (size_t)(p - url) + strcspn(p, "/?#");
    if (n == (size_t)(p - url) || n >= cap)
        return -1;
    memcpy(out, url, n);
    out[n] = 0;
    return 0;
}

EVP_PKEY *webpush_pem_private(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    return key;
}

/* The JWS signature of input with key: RS256 for an RSA key, ES256 (r || s, 32 bytes
 * each, not DER) for a P-256 key. base64url, malloc'd; NULL on failure. */
static char *s_jws_sign(EVP_PKEY *key, const char *input, size_t ilen)
{
    bool ec = EVP_PKEY_is_a(key, "EC");
    unsigned char *der = NULL, raw[64];
    size_t der_len = 0;
    char *out = NULL;
    ECDSA_SIG *sig = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &der_len, (const unsigned char *)input, ilen) != 1 ||
        !(der = malloc(der_len)) ||
        EVP_DigestSign(md, der, &der_len, (const unsigned char *)input, ilen) != 1)
        goto done;
    if (!ec) {
        out = webpush_b64url(der, der_len);
        goto done;
    }
    const unsigned char *dp = der;
    const BIGNUM *r = NULL, *s = NULL;
    if (!(sig = d2i_ECDSA_SIG(NULL, &dp, (long)der_len)))
        goto done;
    ECDSA_SIG_get0(sig, &r, &s);
    if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32)
        out = webpush_b64url(raw, sizeof raw);
done:
    ERR_clear_error();
    ECDSA_SIG_free(sig);
    EVP_MD_CTX_free(md);
    free(der);
    return out;
}

char *webpush_jwt(EVP_PKEY *key, const char *header, const char *claims)
{
    char *h64 = webpush_b64url((const unsigned char *)header, strlen(header));
    char *c64 = webpush_b64url((const unsigned char *)claims, strlen(claims));
    char *out = NULL, *s64 = NULL;
    if (!h64 || !c64)
        goto done;
    size_t ilen = strlen(h64) + 1 + strlen(c64);
    if (!(out = malloc(ilen + 1)))
        goto done;
    snprintf(out, ilen + 1, "%s.%s", h64, c64);
    if (!(s64 = s_jws_sign(key, out, ilen))) {
        free(out);
        out = NULL;
        goto done;
    }
    char *jwt = realloc(out, ilen + 1 + strlen(s64) + 1);
    if (!jwt) {
        free(out);
        out = NULL;
        goto done;
    }
    out = jwt;
    snprintf(out + ilen, strlen(s64) + 2, ".%s", s64);
done:
    free(h64);
    free(c64);
    free(s64);
    return out;
}

char *webpush_vapid(EVP_PKEY *key, const char *endpoint, const char *subject, int64_t now_s)
{
    char origin[512], claims[1024], *jwt = NULL, *k64 = NULL, *out = NULL;
    unsigned char pub[WEBPUSH_POINT_LEN];
    if (s_origin(endpoint, origin, sizeof origin) != 0 || strchr(origin, '"') ||
        strchr(subject, '"') || strchr(subject, '\\'))
        return NULL;
    int n = snprintf(claims, sizeof claims, "{\"aud\":\"%s\",\"exp\":%lld,\"sub\":\"%s\"}", origin,
                     (long long)(now_s + JWT_TTL_S), subject);
    if (n < 0 || (size_t)n >= sizeof claims)
        return NULL;
    if (webpush_key_public(key, pub) != 0 || !(k64 = webpush_b64url(pub, sizeof pub)) ||
        !(jwt = webpush_jwt(key, "{\"typ\":\"JWT\",\"alg\":\"ES256\"}", claims)))
        goto done;
    size_t olen = 8 + strlen(jwt) + 4 + strlen(k64) + 1;
    if ((out = malloc(olen)))
        snprintf(out, olen, "vapid t=%s, k=%s", jwt, k64);
done:
    free(jwt);
    free(k64);
    return out;
}
