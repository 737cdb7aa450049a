import { defineConfig } from 'vitest/config'

// The facade suite (__test__/backend) runs once per backend and kernel set (native with SIMD,
// native forced scalar, WASM simd128, WASM baseline) with identical expectations; the other
// suites (loader, browser, workflows, cross-backend) run once.
const backendSuite = (name: string, env: Record<string, string>) => ({
  test: {
    name,
    include: ['__test__/backend/**/*.test.ts'],
    env,
    testTimeout: 60_000,
  },
})

export default defineConfig({
  test: {
    projects: [
      backendSuite('native', { TEMPORAL_TENSOR_BACKEND: 'native' }),
      backendSuite('native-scalar', { TEMPORAL_TENSOR_BACKEND: 'native', TEMPORAL_TENSOR_FORCE_SCALAR: '1' }),
      backendSuite('wasm', { TEMPORAL_TENSOR_BACKEND: 'wasm' }),
      backendSuite('wasm-baseline', { TEMPORAL_TENSOR_BACKEND: 'wasm', TEMPORAL_TENSOR_WASM_SIMD: '0' }),
      {
        test: {
          name: 'node',
          include: ['__test__/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
