/*
 * sha256.h: SHA-256 (FIPS 180-4), small and dependency-free.
 *
 * The session store fingerprints a model by the SHA-256 of its GGUF header and tensor table, so
 * the same file is recognized under another path. Streaming use:
 *
 *   struct pd_sha256 h;
 *   pd_sha256_init(&h);
 *   pd_sha256_update(&h, data, len);    any number of times
 *   pd_sha256_final(&h, digest);        32 bytes
 */
#ifndef PD_SHA256_H
#define PD_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct pd_sha256 {
    uint32_t state[8];
    uint64_t n_bytes;
    uint8_t block[64];
    size_t n_block;
};

void pd_sha256_init(struct pd_sha256 *h);
void pd_sha256_update(struct pd_sha256 *h, const void *data, size_t len);
void pd_sha256_final(struct pd_sha256 *h, uint8_t digest[32]);

/* One call: the lower-case hex digest of data (65 bytes with the NUL). */
void pd_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
