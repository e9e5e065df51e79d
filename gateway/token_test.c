/* token_test — unit test of session token parsing (gw_token.h): the well-formed token,
 * the hash the shard stores, and refusals of every malformed part (dots, lengths, names,
 * base64url, secret size, NUL bytes, not NUL-terminated input). */
#include "gw_token.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "pl_check.h"

PL_CHECK_COUNTERS;

/* b64 (base64url, no padding) of n bytes of value v into out (at least 96 bytes). */
static void s_secret(unsigned char v, size_t n, char *out)
{
    unsigned char raw[64];
    memset(raw, v, n);
    sodium_bin2base64(out, 96, raw, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static bool s_parse(const char *tok, char *user, char *device, char *th)
{
    return gw_token_parse(tok, strlen(tok), user, device, th);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    char user[33], device[65], th[65], sec[96], tok[512];
    s_secret(0xab, 32, sec);
    CHECK(strlen(sec) == 43);

    /* well-formed: names, and th = hex SHA-256 of the 32 raw secret bytes */
    snprintf(tok, sizeof tok, "alice.phone-1.%s", sec);
    CHECK(s_parse(tok, user, device, th));
    CHECK(strcmp(user, "alice") == 0 && strcmp(device, "phone-1") == 0);
    unsigned char raw[32], h[crypto_hash_sha256_BYTES];
    char want[65];
    memset(raw, 0xab, sizeof raw);
    crypto_hash_sha256(h, raw, sizeof raw);
    sodium_bin2hex(want, sizeof want, h, sizeof h);
    CHECK(strcmp(th, want) == 0 && strlen(th) == 64);

    /* a device may hold dots: the user ends at the first dot, the secret starts after the
     * last */
    snprintf(tok, sizeof tok, "bob.my.laptop.%s", sec);
    CHECK(s_parse(tok, user, device, th) && strcmp(user, "bob") == 0 &&
          strcmp(device, "my.laptop") == 0);
    /* limits of the names: 32-character user, 64-character device */
    snprintf(tok, sizeof tok, "%s.%s.%s", "u2345678901234567890123456789012",
             "d234567890123456789012345678901234567890123456789012345678901234", sec);
    CHECK(s_parse(tok, user, device, th) && strlen(user) == 32 && strlen(device) == 64);
    /* only the given length counts: the same bytes followed by junk */
    snprintf(tok, sizeof tok, "alice.phone.%sJUNK", sec);
    CHECK(gw_token_parse(tok, strlen(tok) - 4, user, device, th) && strcmp(user, "alice") == 0);
    CHECK(!s_parse(tok, user, device, th));

    char s31[96], s33[96], s48[96];
    s_secret(1, 31, s31);
    s_secret(1, 33, s33);
    s_secret(1, 48, s48);
    const char *fmt_bad[] = {
        "",
        ".",
        "..",
        "alice",
        "alice.phone",
        "alice.phone.",
        ".phone.%s",
        "alice..%s",
        "alice.%s",
        "%s",
        "Alice.phone.%s",                             /* not a user name */
        "al.phone.%s",                                /* too short */
        "u23456789012345678901234567890123.phone.%s", /* 33 characters */
        "alice.ph one.%s",                            /* not a device name */
        "alice.d2345678901234567890123456789012345678901234567890123456789012345.%s", /* 65 */
        "alice.phone.%s=",                                                            /* padding */
        "alice.phone.%s/", /* base64, not base64url */
        "alice.phone.!%s", /* not base64 */
        "alice.phone.%s ", /* white space */
        NULL,
    };
    for (int i = 0; fmt_bad[i]; i++) {
        snprintf(tok, sizeof tok, fmt_bad[i], sec);
        bool ok = s_parse(tok, user, device, th);
        CHECK(!ok);
        if (ok)
            fprintf(stderr, "  accepted token '%s'\n", tok);
    }
    /* a secret of another size than 32 bytes */
    const char *secs[] = {s31, s33, s48, NULL};
    for (int i = 0; secs[i]; i++) {
        snprintf(tok, sizeof tok, "alice.phone.%s", secs[i]);
        CHECK(!s_parse(tok, user, device, th));
    }
    /* a NUL byte inside the token (JSON allows U+0000 in strings) */
    char nul[128];
    int n = snprintf(nul, sizeof nul, "alice.phone.%s", sec);
    nul[3] = 0;
    CHECK(!gw_token_parse(nul, (size_t)n, user, device, th));
    n = snprintf(nul, sizeof nul, "alice.phone.%s", sec);
    nul[n - 1] = 0;
    CHECK(!gw_token_parse(nul, (size_t)n, user, device, th));
    /* a long token (a 64-character secret field is the most accepted) */
    char longsec[200];
    memset(longsec, 'A', sizeof longsec - 1);
    longsec[sizeof longsec - 1] = 0;
    snprintf(tok, sizeof tok, "alice.phone.%s", longsec);
    CHECK(!s_parse(tok, user, device, th));

    printf("gateway_token_test: %d passed, %d failed\n", s_passed, s_failed);
    return s_failed ? 1 : 0;
}
