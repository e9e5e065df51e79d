/* diskspace — see diskspace.h. */
#include "diskspace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "pl_log.h"

struct _shard_disk_t {
    char *dir;
    char *file;      /* dir/parley-reserve */
    int64_t reserve; /* bytes; 0: off */
    bool low;        /* writes refused until 2 x reserve is free */
    bool have_file;  /* the reserve file is allocated */
    int64_t fake;    /* test hook: free bytes to report, or -1 */
    bool started;    /* past shard_disk_new (for the log lines) */
};

/* Free bytes for an unprivileged writer on dir's file system; INT64_MAX when statvfs
 * fails (logged): a folder we cannot stat is not taken for a full one. */
static int64_t s_free(shard_disk_t *self)
{
    if (self->fake >= 0)
        return self->fake;
    struct statvfs st;
    if (statvfs(self->dir, &st) != 0) {
        pl_warn("disk: statvfs %s: %s", self->dir, strerror(errno));
        return INT64_MAX;
    }
    return (int64_t)st.f_bavail * (int64_t)st.f_frsize;
}

/* Allocate the reserve file (real blocks, not a sparse file). 0, or -1 with the partial
 * file removed. */
static int s_make_file(shard_disk_t *self)
{
    int fd = open(self->file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        pl_debug("disk: cannot create %s: %s", self->file, strerror(errno));
        return -1;
    }
    int rc = posix_fallocate(fd, 0, (off_t)self->reserve);
    close(fd);
    if (rc != 0) {
        pl_debug("disk: cannot allocate %s: %s", self->file, strerror(rc));
        unlink(self->file);
        return -1;
    }
    self->have_file = true;
    return 0;
}

static void s_drop_file(shard_disk_t *self)
{
    if (unlink(self->file) != 0 && errno != ENOENT)
        pl_warn("disk: cannot delete %s: %s", self->file, strerror(errno));
    self->have_file = false;
}

/* The state machine of diskspace.h: ok -> low below R free (file dropped), low -> ok
 * once 2R are free and the file is allocated again. */
static void s_check(shard_disk_t *self)
{
    int64_t free_b = s_free(self);
    const int64_t mib = 1024 * 1024;
    if (!self->low) {
        if (free_b >= self->reserve)
            return;
        self->low = true;
        s_drop_file(self);
        pl_warn("disk: %s has %lld MiB free, less than --disk-reserve-mib %lld: refusing writes "
                "(answered unavailable) until %lld MiB are free; reserve file deleted",
                self->dir, (long long)(free_b / mib), (long long)(self->reserve / mib),
                (long long)(2 * self->reserve / mib));
        return;
    }
    if (free_b < 2 * self->reserve || s_make_file(self) != 0)
        return;
    self->low = false;
    if (self->started)
        pl_info("disk: %s has %lld MiB free again: reserve file re-created, writes resume",
                self->dir, (long long)(free_b / mib));
    else
        pl_info("disk: reserve file %s allocated (%lld MiB; %lld MiB free)", self->file,
                (long long)(self->reserve / mib), (long long)(free_b / mib));
}

shard_disk_t *shard_disk_new(const char *dir, int reserve_mib)
{
    shard_disk_t *self = calloc(1, sizeof(*self));
    if (!self)
        return NULL;
    self->fake = -1;
    self->reserve = (int64_t)(reserve_mib > 0 ? reserve_mib : 0) * 1024 * 1024;
    self->dir = strdup(dir);
    size_t n = strlen(dir) + sizeof(SHARD_DISK_RESERVE_FILE) + 2;
    self->file = malloc(n);
    if (!self->dir || !self->file) {
        shard_disk_destroy(&self);
        return NULL;
    }
    snprintf(self->file, n, "%s/%s", dir, SHARD_DISK_RESERVE_FILE);
    if (self->reserve == 0) {
        s_drop_file(self); /* off: no spare left behind by an earlier run */
        return self;
    }
    /* Low until the reserve file is allocated: an existing one (an earlier run's) is kept
     * if it can be completed, otherwise one is made once 2R are free. When space is short
     * already, s_check deletes the file so that RocksDB can open. */
    struct stat st;
    self->low = true;
    if (stat(self->file, &st) == 0 && s_make_file(self) == 0)
        self->low = false;
    s_check(self);
    self->started = true;
    return self;
}

void shard_disk_destroy(shard_disk_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    shard_disk_t *self = *self_p;
    free(self->dir);
    free(self->file);
    free(self);
    *self_p = NULL;
}

bool shard_disk_writable(shard_disk_t *self)
{
    if (!self || self->reserve == 0)
        return true;
    s_check(self);
    return !self->low;
}

void shard_disk_tick(shard_disk_t *self)
{
    if (self && self->reserve > 0 && self->low)
        s_check(self);
}

bool shard_disk_low(shard_disk_t *self)
{
    return self && self->low;
}

void shard_disk_set_free(shard_disk_t *self, int64_t free_bytes)
{
    self->fake = free_bytes;
}
