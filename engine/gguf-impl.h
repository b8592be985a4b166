/*
 * gguf-impl.h: what the GGUF reader's files share and nobody else needs.
 */
#ifndef PD_GGUF_IMPL_H
#define PD_GGUF_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/gguf.h"

/* Bytes of one element of a fixed-size type; 0 for string and array. */
size_t pd_gguf_scalar_size(enum pd_gguf_type t);

/* Widen the little-endian scalar at p into v (v->type already set). */
void pd_gguf_decode_scalar(struct pd_gguf_value *v, const uint8_t *p);

#endif
