/*
 * synth-impl.h: what the two files of synthetic models share (synth-shape.c, synth.c).
 */
#ifndef PD_SYNTH_IMPL_H
#define PD_SYNTH_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/synth.h"
#include "kernels/cpu/quant.h"

bool pd_synth_is_arch(const struct pd_synth_shape *s, const char *a);
int64_t pd_synth_head_dim(const struct pd_synth_shape *s);
uint32_t pd_synth_file_type(enum pd_type t);
bool pd_synth_type_ok(enum pd_type t);

#endif
