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

/** Frames of the web-stream run: 300 frames of 256 values drifting, with a jump at frame 150. */
export const WEB_STREAM = { tensorLen: 256, frames: 300 };

function webFrames() {
  const { tensorLen, frames } = WEB_STREAM;
  const out = new Float32Array(tensorLen * frames);
  for (let t = 0; t < frames; t++) {
    const gain = t >= 150 ? 6 : 1;
    for (let i = 0; i < tensorLen; i++) out[t * tensorLen + i] = Math.sin(i * 0.07 + t * 0.013) * gain + Math.cos(i * 0.31) * 0.05;
  }
  return out;
}

/** Reads every chunk of a ReadableStream. */
async function readAll(readable) {
  const chunks = [];
  const reader = readable.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  return chunks;
}

/**
 * The Web Streams and the async calls with `api` (browser or Node entry): the frames written to a
 * `TensorCompressionStream` in chunks of 1 to 9 whole frames, alternately as `Float32Array`s and
 * as their little-endian bytes; the segments' bytes fed back through a
 * `TensorDecompressionStream` cut into 1000-byte pieces; and the same frames through
 * `pushManyAsync`/`flushAsync`, decoded with `decodeSegmentAsync`. Returns hex and checksums.
 */
export async function webStreamRun(api) {
  const { tensorLen, frames } = WEB_STREAM;
  const values = webFrames();
  const sizes = [1, 4, 9, 2, 7, 3, 5, 8, 6];
  let at = 0;
  let k = 0;
  const input = new ReadableStream({
    pull(controller) {
      if (at >= frames) {
        controller.close();
        return;
      }
      const n = Math.min(sizes[k % sizes.length], frames - at);
      const chunk = values.slice(at * tensorLen, (at + n) * tensorLen);
      controller.enqueue(k % 2 === 0 ? chunk : new Uint8Array(chunk.buffer));
      at += n;
      k++;
    },
  });
  const options = { tensorLen, format: 'coded', accessCount: 100, lastAccessTs: 0, policy: { maxSegmentFrames: 64 } };
  const segments = await readAll(input.pipeThrough(new api.TensorCompressionStream(options)));
  const all = new Uint8Array(segments.reduce((n, s) => n + s.byteLength, 0));
  let off = 0;
  for (const s of segments) {
    all.set(s, off);
    off += s.byteLength;
  }
  let cut = 0;
  const pieces = new ReadableStream({
    pull(controller) {
      if (cut >= all.byteLength) controller.close();
      else controller.enqueue(all.slice(cut, (cut += 1000)));
    },
  });
  const decoded = await readAll(pieces.pipeThrough(new api.TensorDecompressionStream()));

  const c = new api.TemporalTensorCompressor({ tensorLen, format: 'coded', policy: { maxSegmentFrames: 64 } });
  c.setAccess(100, 0);
  const viaAsync = [...(await c.pushManyAsync(values.subarray(0, 100 * tensorLen), 0))];
  viaAsync.push(...c.pushMany(values.subarray(100 * tensorLen, 130 * tensorLen), 0));
  viaAsync.push(...(await c.pushManyAsync(values.subarray(130 * tensorLen), 0)));
  const last = await c.flushAsync();
  if (last) viaAsync.push(last);
  c.free();
  const asyncDecoded = [];
  for (const s of viaAsync) asyncDecoded.push(await api.decodeSegmentAsync(s));
  return {
    segmentsHex: segments.map(toHex),
    decodedFrames: decoded.length,
    decodedChecksum: checksumFloats(decoded),
    asyncSegmentsHex: viaAsync.map(toHex),
    asyncDecodedChecksum: checksumFloats(asyncDecoded),
  };
}
