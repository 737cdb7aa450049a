// The streaming API's suite (../streams.test.ts) on each backend and kernel set (see vitest.config.ts).
import '../streams.test.js'
