// Prints SHA-256 digests of the segments and decoded values one backend produces for fixed
// streams in both formats at every tier and a few dimensions (used by cross-backend.test.ts).
import { createHash } from 'node:crypto'

const t = await import(process.argv[2])
const result = { backend: t.backend, kernels: t.kernels }
for (const format of ['packed', 'coded']) for (const n of [1, 7, 100, 512, 4099]) {
  for (const [tier, bits] of [['hot', 8], ['warm7', 7], ['warm5', 5], ['cold', 3]]) {
    const c = new t.TemporalTensorCompressor({ tensorLen: n, policy: { fixedBits: bits }, format })
    const frames = new Float32Array(n * 50)
    for (let i = 0; i < frames.length; i++) {
      const f = Math.floor(i / n)
      frames[i] = Math.sin(i * 0.37) * (f < 25 ? 1 : 1e-3) + (f % 7 === 3 ? Math.cos(i) * 40 : 0)
    }
    const segments = [...c.pushMany(frames, 1)]
    const last = c.flush()
    if (last) segments.push(last)
    const hash = createHash('sha256')
    for (const s of segments) {
      hash.update(s)
      const d = t.decodeSegment(s)
      hash.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
    }
    result[`${format}-${tier}-${n}`] = `${segments.length}:${hash.digest('hex')}`
  }
}
console.log(JSON.stringify(result))
