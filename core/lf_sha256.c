/*
** lf_sha256.c — SHA-256 (FIPS 180-4), one-shot.
**
** Hand-written on purpose: one hash for config identity does not justify
** linking libcrypto into the extension.
*/
#include "lf_sha256.h"

#include <string.h>

static const uint32_t lf_sha256_k[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
  0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
  0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define LF_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

/* Folds one 64-byte block into the state h[8]. */
static void lf_sha256_block(uint32_t h[8], const uint8_t *p){
  uint32_t w[64], a, b, c, d, e, f, g, hh, t1, t2;
  int i;
  for(i = 0; i < 16; i++){
    w[i] = (uint32_t)p[4*i] << 24 | (uint32_t)p[4*i+1] << 16
         | (uint32_t)p[4*i+2] << 8 | (uint32_t)p[4*i+3];
  }
  for(i = 16; i < 64; i++){
    uint32_t s0 = LF_ROTR(w[i-15], 7) ^ LF_ROTR(w[i-15], 18) ^ (w[i-15] >> 3);
    uint32_t s1 = LF_ROTR(w[i-2], 17) ^ LF_ROTR(w[i-2], 19) ^ (w[i-2] >> 10);
    w[i] = w[i-16] + s0 + w[i-7] + s1;
  }
  a = h[0]; b = h[1]; c = h[2]; d = h[3];
  e = h[4]; f = h[5]; g = h[6]; hh = h[7];
  for(i = 0; i < 64; i++){
    t1 = hh + (LF_ROTR(e, 6) ^ LF_ROTR(e, 11) ^ LF_ROTR(e, 25))
       + ((e & f) ^ (~e & g)) + lf_sha256_k[i] + w[i];
    t2 = (LF_ROTR(a, 2) ^ LF_ROTR(a, 13) ^ LF_ROTR(a, 22))
       + ((a & b) ^ (a & c) ^ (b & c));
    hh = g; g = f; f = e; e = d + t1;
    d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d;
  h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void lf_sha256(const void *data, size_t len, uint8_t digest[32]){
  uint32_t h[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  };
  const uint8_t *p = data;
  uint8_t tail[128];           /* last partial block + padding: 1 or 2 blocks */
  size_t rest = len % 64, ntail, i;
  uint64_t bits = (uint64_t)len * 8;

  for(i = 0; i + 64 <= len; i += 64) lf_sha256_block(h, p + i);

  /* Padding: 0x80, zeros, then the 64-bit big-endian message bit length. */
  if( rest ) memcpy(tail, p + (len - rest), rest);
  ntail = rest < 56 ? 64 : 128;
  tail[rest] = 0x80;
  memset(tail + rest + 1, 0, ntail - rest - 1);
  for(i = 0; i < 8; i++) tail[ntail - 1 - i] = (uint8_t)(bits >> (8 * i));
  lf_sha256_block(h, tail);
  if( ntail == 128 ) lf_sha256_block(h, tail + 64);

  for(i = 0; i < 8; i++){
    digest[4*i]   = (uint8_t)(h[i] >> 24);
    digest[4*i+1] = (uint8_t)(h[i] >> 16);
    digest[4*i+2] = (uint8_t)(h[i] >> 8);
    digest[4*i+3] = (uint8_t)h[i];
  }
}
