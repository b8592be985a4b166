/*
 * pd.h: what every ponder module shares.
 *
 * Error convention: a library function returns 0 (PD_OK) or a negative PD_E* code, and, where it
 * takes one, fills a caller-owned message buffer of PD_ERR_MAX bytes with a lower-case sentence
 * naming the culprit and its values ("tensor 'blk.0.attn_q.weight': offset 123 past end of file
 * (size 100)"). Library code never prints and never exits.
 *
 * PD_ASSERT stays on in release builds: it guards states that only a bug can reach.
 */
#ifndef PD_H
#define PD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define PD_ERR_MAX 512

enum pd_status {
    PD_OK = 0,
    PD_EINVAL = -1,       /* bad argument or usage */
    PD_ENOMEM = -2,       /* allocation failed */
    PD_EIO = -3,          /* open/read/write/mmap failed */
    PD_EFORMAT = -4,      /* malformed file or data */
    PD_EUNSUPPORTED = -5, /* well-formed but not supported (type, architecture) */
    PD_ERANGE = -6,       /* does not fit (context, buffer) */
    PD_ECANCELED = -7,    /* stopped on request */
    PD_ENOTFOUND = -8,    /* key, tensor or token absent */
};

/* A short phrase for a PD_E* code ("malformed file"). Never NULL. */
const char *pd_strerror(int status);

/* Write a formatted message into err (PD_ERR_MAX bytes; err may be NULL) and return status. */
int pd_errorf(char *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define PD_ASSERT(x)                                                                  \
    do {                                                                              \
        if (!(x)) {                                                                   \
            fprintf(stderr, "%s:%d: %s: assertion failed: %s\n", __FILE__, __LINE__, \
                    __func__, #x);                                                    \
            abort();                                                                  \
        }                                                                             \
    } while (0)

#define PD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define PD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Monotonic time in seconds. */
double pd_time_now(void);

#endif
