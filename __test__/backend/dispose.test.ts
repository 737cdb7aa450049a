// Explicit resource management: `using` frees a compressor, `await using` closes a store, on each
// backend (see vitest.config.ts).
import { describe, expect, it } from 'vitest'
import { TemporalTensorCompressor, TensorStreamStore, kernels } from '../../dist/index.mjs'
import { expectCode } from '../helpers.js'

const disposeKey = (typeof Symbol.dispose === 'symbol' ? Symbol.dispose : Symbol.for('Symbol.dispose')) as typeof Symbol.dispose
const asyncDisposeKey = (typeof Symbol.asyncDispose === 'symbol' ? Symbol.asyncDispose : Symbol.for('Symbol.asyncDispose')) as typeof Symbol.asyncDispose

describe(`Symbol.dispose on the ${process.env.TEMPORAL_TENSOR_BACKEND} backend (${kernels})`, () => {
  it('using frees the compressor when its scope ends; disposing again does nothing', () => {
    let outside: TemporalTensorCompressor
    {
      using c = new TemporalTensorCompressor({ tensorLen: 4 })
      outside = c
      c.push(new Float32Array([1, 2, 3, 4]), 0)
      expect(c.freed).toBe(false)
    }
    expect(outside.freed).toBe(true)
    expectCode(() => outside.push(new Float32Array(4), 0), 'INVALID_HANDLE')
    outside[disposeKey]()
    outside.free()
    expect(outside.freed).toBe(true)
  })

  it('using frees the compressor when its scope throws', () => {
    let outside: TemporalTensorCompressor | null = null
    expect(() => {
      using c = new TemporalTensorCompressor({ tensorLen: 4 })
      outside = c
      c.push(new Float32Array(3), 0) // LENGTH_MISMATCH
    }).toThrow()
    expect(outside!.freed).toBe(true)
  })

  it('the dispose method is free(), non-enumerable, on the prototype', () => {
    const c = new TemporalTensorCompressor({ tensorLen: 4 })
    expect(typeof c[disposeKey]).toBe('function')
    expect(Object.keys(c)).not.toContain(disposeKey)
    c[disposeKey]()
    expect(c.freed).toBe(true)
  })

  it('await using closes a store; disposing again does nothing', async () => {
    let outside: TensorStreamStore
    {
      await using store = new TensorStreamStore()
      outside = store
      await store.append('t', new Float32Array([1, 2]), 1)
    }
    await expect(outside.append('t', new Float32Array([1, 2]), 2)).rejects.toMatchObject({ code: 'INVALID_HANDLE' })
    await outside[asyncDisposeKey]()
  })
})
