// @ts-check
// Writes a tiny 2-D float32 .npy (frames × dim, NumPy format 1.0) with no dependency: what
// `np.save(path, np.asarray(x, dtype='<f4'))` writes for a C-ordered array.
//
// Run: node examples/cli-numpy/make-npy.mjs frames.npy [frames] [dim]
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/**
 * The bytes of a `<f4` .npy holding `frames` rows of `dim` smooth values.
 * @param {number} frames
 * @param {number} dim
 * @returns {Uint8Array}
 */
export function makeNpy(frames, dim) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${frames}, ${dim}), }`
  // Magic (6) + version (2) + header length (2) + header + '\n', padded to a multiple of 64.
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'
  const out = new Uint8Array(10 + header.length + frames * dim * 4)
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8])
  out.set(new TextEncoder().encode(header), 10)
  const values = new DataView(out.buffer, 10 + header.length)
  for (let t = 0; t < frames; t++) {
    for (let i = 0; i < dim; i++) values.setFloat32((t * dim + i) * 4, Math.sin(i / 7 + t / 20) + 0.1 * Math.cos(i * t), true)
  }
  return out
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [path = 'frames.npy', frames = '100', dim = '128'] = process.argv.slice(2)
  writeFileSync(path, makeNpy(Number(frames), Number(dim)))
  console.log(`${path}: ${frames} × ${dim} float32`)
}
