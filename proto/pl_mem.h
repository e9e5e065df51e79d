/* pl_mem — the C library's allocator settings every role starts with (pl_mem.c). */
#ifndef PL_MEM_H
#define PL_MEM_H

/* Keep freed heap memory up to PL_MEM_TRIM bytes per arena instead of giving it back at
 * each free, and serve allocations up to PL_MEM_MMAP bytes from the heap, not from a fresh
 * mmap each. Why: libzmq's CURVE allocates (and zero-fills) a buffer per message in its
 * I/O thread; for messages of tens of KiB (a `sync` page of 500 messages is ≈ 60 KiB)
 * glibc's default trim threshold (128 KiB) returned that memory at every free and faulted
 * it back in at the next message — page faults, madvise and memset were most of the
 * router's CPU during a catch-up (docs/benchmarks.md "T5: the allocator"). Call once at
 * the start of main, before any thread starts. 0, or -1 if the C library refused (the
 * process runs on with its defaults). */
#define PL_MEM_TRIM (32u << 20)
#define PL_MEM_MMAP (4u << 20)
int pl_mem_tune(void);

#endif
