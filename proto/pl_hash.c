/* pl_hash — see pl_hash.h. */
#include "pl_hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _pl_slots_t {
    uint32_t version;
    int nshards;
    uint16_t owner[PL_SLOTS]; /* shard id per slot */
};

uint16_t pl_crc16(const void *buf, size_t len)
{
    /* CRC16-CCITT, XMODEM variant: poly 0x1021, init 0, no reflection. */
    const unsigned char *p = buf;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)p[i] << 8;
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

int pl_slot(const char *key, size_t len)
{
    return pl_crc16(key, len) & (PL_SLOTS - 1);
}

pl_slots_t *pl_slots_new_even(int nshards, uint32_t version)
{
    if (nshards < 1 || nshards > PL_SLOTS)
        return NULL;
    pl_slots_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->version = version;
    self->nshards = nshards;
    for (int s = 0; s < PL_SLOTS; s++)
        self->owner[s] = (uint16_t)((long)s * nshards / PL_SLOTS);
    return self;
}

void pl_slots_destroy(pl_slots_t **self_p)
{
    if (self_p && *self_p) {
        free(*self_p);
        *self_p = NULL;
    }
}

uint32_t pl_slots_version(const pl_slots_t *self)
{
    return self->version;
}

int pl_slots_nshards(const pl_slots_t *self)
{
    return self->nshards;
}

int pl_slots_owner(const pl_slots_t *self, int slot)
{
    if (slot < 0 || slot >= PL_SLOTS)
        return -1;
    return self->owner[slot];
}

int pl_slots_owner_of_key(const pl_slots_t *self, const char *key)
{
    return self->owner[pl_slot(key, strlen(key))];
}

char *pl_slots_encode(const pl_slots_t *self)
{
    /* At most PL_SLOTS ranges of "ddddd-ddddd=ddddd " (18 bytes). */
    size_t cap = 16 + (size_t)PL_SLOTS * 20;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t n = (size_t)snprintf(out, cap, "%u", self->version);
    int start = 0;
    for (int s = 1; s <= PL_SLOTS; s++) {
        if (s == PL_SLOTS || self->owner[s] != self->owner[start]) {
            n += (size_t)snprintf(out + n, cap - n, " %d-%d=%d", start, s - 1, self->owner[start]);
            start = s;
        }
    }
    return out;
}

pl_slots_t *pl_slots_decode(const char *text)
{
    if (!text)
        return NULL;
    pl_slots_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    const char *p = text;
    char *end;
    unsigned long v = strtoul(p, &end, 10);
    if (end == p || v > UINT32_MAX)
        goto fail;
    self->version = (uint32_t)v;
    p = end;
    int next = 0; /* first slot not yet covered */
    while (*p == ' ') {
        p++;
        long a = strtol(p, &end, 10);
        if (end == p || *end != '-')
            goto fail;
        p = end + 1;
        long b = strtol(p, &end, 10);
        if (end == p || *end != '=')
            goto fail;
        p = end + 1;
        long sh = strtol(p, &end, 10);
        if (end == p)
            goto fail;
        p = end;
        if (a != next || b < a || b >= PL_SLOTS || sh < 0 || sh >= PL_SLOTS)
            goto fail;
        for (long s = a; s <= b; s++)
            self->owner[s] = (uint16_t)sh;
        if (sh + 1 > self->nshards)
            self->nshards = (int)sh + 1;
        next = (int)b + 1;
    }
    if (*p != '\0' || next != PL_SLOTS)
        goto fail;
    return self;
fail:
    free(self);
    return NULL;
}
