/*
 * Round trip through the ttc_* C ABI: compress 16 frames, walk the segments, decode them and
 * check every frame against the bound its segment promises; then show how an error reads.
 *
 *   roundtrip                          the round trip above
 *   roundtrip SEGMENTS.tqtc DECODED.f32  decode a file of segments and compare with raw f32s
 *
 * Build (what `npm test` does, see scripts/c-abi.mjs):
 *   cargo build --release -p ruvector-temporal-tensor-c
 *   cc -std=c99 -I crates/ruvector-temporal-tensor/include examples/c/roundtrip.c \
 *      target/release/libtemporal_tensor.a -lpthread -ldl -lm -o roundtrip
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "temporal_tensor.h"

#define N 256
#define FRAMES 16

/* Prints the calling thread's last error and exits. */
static void die(const char *what, int32_t status) {
  uint8_t message[256];
  size_t len = 0;
  ttc_last_error(message, sizeof message, &len);
  fprintf(stderr, "%s failed: status %d: %.*s\n", what, status, (int)len, (const char *)message);
  exit(1);
}

/* Reads a whole file; exits on failure. */
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(1); }
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *bytes = malloc(*len ? *len : 1);
  if (!bytes || fread(bytes, 1, *len, f) != *len) { perror(path); exit(1); }
  fclose(f);
  return bytes;
}

/* Decodes segments stored back to back into a new array; returns the number of floats. */
static size_t decode_all(const uint8_t *bytes, size_t len, float **out) {
  size_t total = 0, at = 0;
  *out = NULL;
  while (at < len) {
    TtcSegmentInfo info;
    int32_t status = ttc_segment_info(bytes + at, len - at, &info);
    if (status != TTC_OK) die("ttc_segment_info", status);
    size_t values = (size_t)info.tensor_len * info.frame_count, written = 0;
    *out = realloc(*out, (total + values) * sizeof(float));
    status = ttc_decode_segment(bytes + at, info.byte_length, *out + total, values, &written);
    if (status != TTC_OK) die("ttc_decode_segment", status);
    total += written;
    at += info.byte_length;
  }
  return total;
}

static int compare_files(const char *segments_path, const char *decoded_path) {
  size_t seg_len, raw_len;
  uint8_t *segments = read_file(segments_path, &seg_len);
  uint8_t *raw = read_file(decoded_path, &raw_len);
  float *decoded;
  size_t values = decode_all(segments, seg_len, &decoded);
  if (values * sizeof(float) != raw_len || memcmp(decoded, raw, raw_len) != 0) {
    fprintf(stderr, "%s: decoded values differ from %s\n", segments_path, decoded_path);
    return 1;
  }
  printf("%s: %zu values, bit for bit\n", segments_path, values);
  free(segments); free(raw); free(decoded);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3) return compare_files(argv[1], argv[2]);

  static float frames[FRAMES * N];
  for (int t = 0; t < FRAMES; t++)
    for (int i = 0; i < N; i++) frames[t * N + i] = sinf(0.05f * (float)i + 0.01f * (float)t);

  uint32_t handle;
  int32_t status = ttc_create(N, 0, &handle);
  if (status != TTC_OK) die("ttc_create", status);
  ttc_set_access(handle, 1000, 0); /* hot tier: 8-bit bound */

  /* A zero-capacity call reports the buffer this batch needs. */
  size_t need = 0, used = 0, flushed = 0;
  status = ttc_push_frames(handle, 1, frames, FRAMES * N, NULL, 0, &need);
  if (status != TTC_BUFFER_TOO_SMALL) die("ttc_push_frames (size query)", status);
  uint8_t *out = malloc(need);
  status = ttc_push_frames(handle, 1, frames, FRAMES * N, out, need, &used);
  if (status != TTC_OK) die("ttc_push_frames", status);
  ttc_flush(handle, NULL, 0, &need); /* size of the open segment */
  out = realloc(out, used + need);
  status = ttc_flush(handle, out + used, need, &flushed);
  if (status != TTC_OK) die("ttc_flush", status);
  used += flushed;
  ttc_free(handle);

  float *decoded;
  size_t values = decode_all(out, used, &decoded);
  if (values != FRAMES * N) { fprintf(stderr, "decoded %zu values\n", values); return 1; }
  TtcSegmentInfo info;
  ttc_segment_info(out, used, &info);
  for (int t = 0; t < FRAMES; t++) {
    float peak = 0, err = 0;
    for (int i = 0; i < N; i++) {
      peak = fmaxf(peak, fabsf(frames[t * N + i]));
      err = fmaxf(err, fabsf(frames[t * N + i] - decoded[t * N + i]));
    }
    if (!(err / peak < info.bound)) { fprintf(stderr, "frame %d: error %g\n", t, err / peak); return 1; }
  }
  printf("%d frames of %d floats: %zu bytes (%.1fx), %u-bit, every frame within %.3f\n", FRAMES,
         N, used, (double)(FRAMES * N * 4) / (double)used, info.bits, (double)info.bound);

  /* Errors are negative statuses; ttc_last_error says what happened. */
  uint8_t junk[3] = {'T', 'Q', 'T'};
  float one;
  size_t n;
  status = ttc_decode_segment(junk, sizeof junk, &one, 1, &n);
  uint8_t message[256];
  size_t len = 0;
  ttc_last_error(message, sizeof message, &len);
  printf("3 bytes: status %d (TTC_TRUNCATED is %d): %.*s\n", status, TTC_TRUNCATED, (int)len,
         (const char *)message);
  free(out); free(decoded);
  return status == TTC_TRUNCATED ? 0 : 1;
}
