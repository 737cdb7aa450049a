// Child process of scripts/bench-store.mjs: opens a store (persistence as JSON in argv[2]),
// reports { ready }, waits for 'go', appends `frames` frames of `dim` values to tensor `id` at
// timestamps 0..frames-1 (10 fps: ts in ms), then reports { done, ms } and exits.
import { TensorStreamStore } from '../../dist/index.mjs'
import { embeddingStream } from '../../bin/trace.mjs'

const [persistenceArg, id, framesArg, dimArg] = process.argv.slice(2)
const frames = Number(framesArg)
const next = embeddingStream(Number(dimArg), id.length * 7919 + id.charCodeAt(id.length - 1))
const data = Array.from({ length: frames }, () => next())
const store = await TensorStreamStore.open({ persistence: JSON.parse(persistenceArg), retier: false })
process.send({ ready: true })
process.once('message', async () => {
  const t0 = performance.now()
  for (let k = 0; k < frames; k++) await store.append(id, data[k], k * 100)
  const ms = performance.now() - t0
  await store.close()
  process.send({ done: true, ms })
  process.exit(0)
})
