/* pl_err — the protocol's error codes (PROTOCOL.md "Error codes"). */
#ifndef PL_ERR_H
#define PL_ERR_H

#define PL_E_BAD_REQUEST "bad_request"
#define PL_E_UNAUTHENTICATED "unauthenticated"
#define PL_E_FORBIDDEN "forbidden"
#define PL_E_NOT_FOUND "not_found"
#define PL_E_TOO_LARGE "too_large"
#define PL_E_GROUP_FULL "group_full"
/* Extension: a per-user cap (groups created / groups a member of) is reached. */
#define PL_E_TOO_MANY "too_many"
#define PL_E_RATE_LIMITED "rate_limited"
#define PL_E_UNAVAILABLE "unavailable"
#define PL_E_INTERNAL "internal"
/* Internal only (never sent to clients): account already exists (HTTP 409). */
#define PL_E_CONFLICT "conflict"

#endif
