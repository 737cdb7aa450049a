// Deterministic test stream shared by the browser page (page.mjs) and the Node-side test
// (browser.test.ts). Everything here is pure: the same API module in, the same bytes out.

export const TENSOR_LEN = 512;
export const FRAME_COUNT = 40;

/**
 * Tiers to exercise. Score = accessCount * 1024 / (ts - lastAccessTs + 1):
 *  - hot:  setAccess(1000, 0), pushes at ts 0  -> score 1_024_000 (>= 512, 8-bit)
 *  - warm: setAccess(1, 0),    pushes at ts 3  -> score 256       (>= 64, 7-bit)
 *  - cold: default access (count 0), ts 0      -> score 0         (3-bit)
 */
export const TIERS = [
  { name: 'hot', access: [1000, 0], ts: 0 },
  { name: 'warm', access: [1, 0], ts: 3 },
  { name: 'cold', access: null, ts: 0 },
  // The same tiers in the coded format (TQTC v3).
  { name: 'hot-coded', access: [1000, 0], ts: 0, format: 'coded' },
  { name: 'warm-coded', access: [1, 0], ts: 3, format: 'coded' },
  { name: 'cold-coded', access: null, ts: 0, format: 'coded' },
];

/** Frame `t` (0-based): value i = sin(i * 0.05 + t * 0.01) * (t >= 20 ? 4 : 1). */
export function makeFrame(t, tensorLen = TENSOR_LEN) {
  const frame = new Float32Array(tensorLen);
  const gain = 1 + (t >= 20 ? 3 : 0);
  for (let i = 0; i < tensorLen; i++) frame[i] = Math.sin(i * 0.05 + t * 0.01) * gain;
  return frame;
}

export function toHex(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, '0');
  return s;
}

/** FNV-1a (32-bit) over the raw little-endian bytes of the Float32Arrays, as 8 hex digits. */
export function checksumFloats(arrays, seed = 0x811c9dc5) {
  let h = seed >>> 0;
  for (const arr of arrays) {
    const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}

/** Compresses the stream at one tier with `api` (browser or Node entry); returns the segments. */
export function compressTier(api, tier) {
  const c = new api.TemporalTensorCompressor({ tensorLen: TENSOR_LEN, format: tier.format ?? 'packed' });
  try {
    if (tier.access) c.setAccess(tier.access[0], tier.access[1]);
    const segments = [];
    for (let t = 0; t < FRAME_COUNT; t++) {
      const seg = c.push(makeFrame(t), tier.ts);
      if (seg) segments.push(seg);
    }
    const last = c.flush();
    if (last) segments.push(last);
    return segments;
  } finally {
    c.free();
  }
}

/**
 * Runs every tier: returns segments as hex per tier, bits per tier (from segmentInfo), the total
 * decoded frame count per tier and one checksum over all decoded values (tiers in TIERS order).
 */
export function runAll(api) {
  const segmentsHex = {};
  const bits = {};
  const decodedFrames = {};
  const decoded = [];
  for (const tier of TIERS) {
    const segments = compressTier(api, tier);
    segmentsHex[tier.name] = segments.map(toHex);
    bits[tier.name] = segments.map((s) => api.segmentInfo(s).bits);
    let frames = 0;
    for (const seg of segments) {
      const values = api.decodeSegment(seg);
      if (values.length % TENSOR_LEN !== 0) {
        throw new Error(`${tier.name}: decoded ${values.length} values, not a multiple of ${TENSOR_LEN}`);
      }
      frames += values.length / TENSOR_LEN;
      decoded.push(values);
    }
    decodedFrames[tier.name] = frames;
  }
  return { segmentsHex, bits, decodedFrames, decodedChecksum: checksumFloats(decoded) };
}

/** Returns the error code decoding corrupt input yields (bad magic, then truncation). */
export function corruptCodes(api, goodSegment) {
  const codeOf = (bytes) => {
    try {
      api.decodeSegment(bytes);
      return null;
    } catch (e) {
      return e instanceof api.TemporalTensorError ? e.code : `non-TemporalTensorError: ${String(e)}`;
    }
  };
  const badMagic = goodSegment.slice();
  badMagic[0] ^= 0xff;
  badMagic[1] ^= 0xff;
  return {
    badMagic: codeOf(badMagic),
    truncated: codeOf(goodSegment.slice(0, Math.max(1, goodSegment.length >> 1))),
  };
}
