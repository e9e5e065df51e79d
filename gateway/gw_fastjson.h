/* gw_fastjson — a fast path for json_loadb on the common client frame: a flat JSON object
 * whose members are strings (simple escapes only), small integers, true, false or null.
 * Everything else (nested values, reals, \u escapes, big integers, anything malformed)
 * goes to jansson itself, so the result — object, value types, member order, and every
 * error — is always the one json_loadb(data, len, JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL) gives. Why: jansson's lexer costs ≈ 150 instructions per byte of a
 * `send` frame, most of the gateway's cost per message (docs/benchmarks.md "Instructions
 * per message: the gateway"); this scanner validates UTF-8 and builds the same object at a
 * few instructions per byte.
 *
 * Pure, any thread. Unit-tested against jansson in fastjson_test.c. */
#ifndef GW_FASTJSON_H
#define GW_FASTJSON_H

#include <jansson.h>
#include <stddef.h>

/* json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, err) with the fast path
 * above; err may be NULL. Returns a new reference (the caller decrefs) or NULL. */
json_t *gw_json_load_frame(const char *data, size_t len, json_error_t *err);

/* The fast path alone: the object, or NULL where json_loadb must decide (for the test). */
json_t *gw_json_fast(const char *data, size_t len);

#endif
