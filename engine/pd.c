/*
 * pd.c: error strings and the small utilities of pd.h.
 */
#include "config.h"

#include "engine/pd.h"

#include <time.h>

const char *
pd_strerror(int status)
{
    switch (status) {
    case PD_OK: return "success";
    case PD_EINVAL: return "invalid argument";
    case PD_ENOMEM: return "out of memory";
    case PD_EIO: return "input/output error";
    case PD_EFORMAT: return "malformed data";
    case PD_EUNSUPPORTED: return "not supported";
    case PD_ERANGE: return "does not fit";
    case PD_ECANCELED: return "canceled";
    case PD_ENOTFOUND: return "not found";
    }
    return "unknown error";
}

int
pd_errorf(char *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, PD_ERR_MAX, fmt, ap);
        va_end(ap);
    }
    return status;
}

double
pd_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
