import { defineConfig } from 'vitest/config'

// The facade suite (__test__/backend) runs once per backend with identical expectations; the
// other suites (loader, browser, workflows, cross-backend) run once.
const backendSuite = (name: 'native' | 'wasm') => ({
  test: {
    name,
    include: ['__test__/backend/**/*.test.ts'],
    env: { TEMPORAL_TENSOR_BACKEND: name },
    testTimeout: 60_000,
  },
})

export default defineConfig({
  test: {
    projects: [
      backendSuite('native'),
      backendSuite('wasm'),
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
