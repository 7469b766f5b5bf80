/*
** lf_sha256.h — SHA-256 (FIPS 180-4) of a buffer, one-shot (config hashes,
** plugin file digests).
*/
#ifndef LF_SHA256_H
#define LF_SHA256_H

#include <stddef.h>
#include <stdint.h>

void lf_sha256(const void *data, size_t len, uint8_t digest[32]);

#endif
