/* pl_mem — see pl_mem.h. */
#include "pl_mem.h"

#include <malloc.h>

int pl_mem_tune(void)
{
    /* mallopt returns 1 on success, 0 on error */
    if (mallopt(M_TRIM_THRESHOLD, (int)PL_MEM_TRIM) != 1)
        return -1;
    if (mallopt(M_MMAP_THRESHOLD, (int)PL_MEM_MMAP) != 1)
        return -1;
    return 0;
}
