/* token — parsing of session tokens (gw_token.h). */
#include "gw_token.h"

#include <sodium.h>
#include <string.h>

#include "pl_text.h"

bool gw_token_parse(const char *tok, size_t tlen, char *user, char *device, char *th)
{
    if (memchr(tok, 0, tlen))
        return false; /* "ali\0e.dev.secret" must not read as the user "ali" */
    const char *d1 = memchr(tok, '.', tlen), *d2 = tok + tlen;
    while (d2 > tok && d2[-1] != '.')
        d2--;
    if (!d1 || d2 == tok || d2 - 1 <= d1)
        return false;
    size_t ul = (size_t)(d1 - tok), dl = (size_t)(d2 - 1 - d1 - 1), sl = tlen - (size_t)(d2 - tok);
    if (ul > 32 || dl > 64 || sl == 0 || sl > 64)
        return false;
    memcpy(user, tok, ul);
    user[ul] = 0;
    memcpy(device, d1 + 1, dl);
    device[dl] = 0;
    if (!pl_user_valid(user) || !pl_device_valid(device))
        return false;
    unsigned char secret[48], hash[crypto_hash_sha256_BYTES];
    size_t bin_len;
    if (sodium_base642bin(secret, sizeof secret, d2, sl, NULL, &bin_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        bin_len != 32)
        return false;
    crypto_hash_sha256(hash, secret, bin_len);
    sodium_bin2hex(th, 2 * sizeof hash + 1, hash, sizeof hash);
    return true;
}
