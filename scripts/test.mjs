// `npm test`: the whole suite, piece by piece (STEPS). `npm test -- --quick` is the inner loop:
// the Rust tests and vitest on the native backend, with no system package installed, no qemu,
// no fuzzing and no browser. `npm test -- rust aarch64` runs the pieces named; `--help` lists them.
//
// Setup (scripts/setup.mjs) first installs and builds what the chosen pieces need. A piece whose
// system packages cannot be had here (no apt-get, e.g. macOS) is skipped with the reason, and the
// summary at the end lists it; any piece that runs and fails stops the suite with its status.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkHeader, ensureCbindgen, runExample } from './c-abi.mjs'
import { fuzzShort } from './fuzz.mjs'
import { root, run, step } from './lib.mjs'
import { testPython } from './python.mjs'
import { setup } from './setup.mjs'
import { testAarch64 } from './test-aarch64.mjs'

/** The vitest files that run pages in headless Chromium (the second builds apps with bundlers). */
const BROWSER_TESTS = ['__test__/browser.test.ts', '__test__/bundlers.test.ts']

/** The vitest files that start Redis or PostgreSQL servers: those importing ./store-servers. */
function serverTests() {
  const dir = join(root, '__test__')
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts') && readFileSync(join(dir, f), 'utf8').includes("from './store-servers"))
    .map((f) => `__test__/${f}`)
}

/**
 * The pieces, in the order `npm test` runs them. `needs`: what scripts/setup.mjs must provide
 * ('js', 'wasm', or a key of its FEATURES: system packages); `soft`: needs whose absence only narrows the
 * piece (`run` gets the set of needs met); `quick`: part of `--quick`; `full: false`: not part
 * of a plain `npm test` (only when named or with --quick). Adding a piece is adding a row.
 */
export const STEPS = [
  {
    name: 'rust',
    title: 'Rust tests (cargo test --workspace --all-features)',
    quick: true,
    run: () => run('cargo', ['test', '--workspace', '--all-features']),
  },
  {
    name: 'c-abi',
    title: 'C ABI: the generated header is current; examples/c/roundtrip.c built with cc and run (scripts/c-abi.mjs)',
    needs: ['cc'],
    run: () => {
      ensureCbindgen()
      checkHeader()
      runExample()
    },
  },
  { name: 'python', title: 'Python binding: abi3 wheel installed in a fresh venv; pytest (scripts/python.mjs)', needs: ['js', 'python'], run: testPython },
  { name: 'fuzz', title: 'every fuzz target for ~8 s (scripts/fuzz.mjs)', needs: ['nightly'], run: fuzzShort },
  { name: 'aarch64', title: 'the core on aarch64/NEON under qemu-user (scripts/test-aarch64.mjs)', needs: ['aarch64'], run: testAarch64 },
  {
    name: 'vitest',
    title: 'JavaScript tests: every vitest project (native, native-scalar, wasm, wasm-baseline, node; with Chromium the browser page and the bundler apps)',
    needs: ['js', 'wasm'],
    soft: ['browser', 'servers'],
    run: (have) => {
      const exclude = []
      if (!have.has('browser')) exclude.push(...BROWSER_TESTS)
      if (!have.has('servers')) exclude.push(...serverTests())
      if (exclude.length) console.warn(`⚠ left out for want of Chromium or the servers: ${exclude.join(', ')}`)
      run('npx', ['vitest', 'run', ...exclude.flatMap((f) => ['--exclude', f])])
    },
  },
  {
    name: 'vitest-native',
    title: 'JavaScript tests on the native backend only (vitest run --project native)',
    needs: ['js'],
    quick: true,
    full: false,
    run: () => run('npx', ['vitest', 'run', '--project', 'native']),
  },
]

function usage() {
  const width = Math.max(...STEPS.map((s) => s.name.length))
  console.log(`usage: npm test [-- --quick | -- <piece> ...]

  npm test                    every piece but those marked (named only), installing what they need
  npm test -- --quick         ${STEPS.filter((s) => s.quick).map((s) => s.name).join(' + ')}; installs no system package
  npm test -- <piece> ...     only these pieces, in the order below

pieces:
${STEPS.map((s) => `  ${s.name.padEnd(width)}  ${s.title}${s.full === false ? ' (named only)' : ''}${s.needs?.length ? `; needs ${s.needs.join(', ')}` : ''}`).join('\n')}

One Rust test:    cargo test -p ruvector-temporal-tensor --test coded_format [name filter]
One vitest file:  npx vitest run --project native __test__/backend/facade.test.ts`)
}

/** The pieces chosen by the command line, and whether system packages may be installed. */
function parseArgs(argv) {
  if (argv.includes('--help') || argv.includes('-h')) {
    usage()
    process.exit(0)
  }
  const quick = argv.includes('--quick')
  const names = argv.filter((a) => a !== '--quick')
  const unknown = names.filter((n) => !STEPS.some((s) => s.name === n))
  if (unknown.length > 0 || (quick && names.length > 0)) {
    console.error(unknown.length ? `unknown piece(s): ${unknown.join(', ')}` : '--quick takes no piece names')
    usage()
    process.exit(2)
  }
  if (quick) return { steps: STEPS.filter((s) => s.quick), install: false }
  if (names.length > 0) return { steps: STEPS.filter((s) => names.includes(s.name)), install: true }
  return { steps: STEPS.filter((s) => s.full !== false), install: true }
}

const { steps, install } = parseArgs(process.argv.slice(2))
const needs = [...new Set(steps.flatMap((s) => [...(s.needs ?? []), ...(s.soft ?? [])]))]
const have = setup({ needs, install })
const passed = []
const skipped = []
for (const s of steps) {
  const unmet = (s.needs ?? []).filter((n) => !have.has(n))
  if (unmet.length > 0) {
    console.warn(`\n⚠ skipping ${s.name} (${s.title}): ${unmet.join(', ')} not available (see the setup messages above)`)
    skipped.push(`${s.name} (no ${unmet.join(', ')})`)
    continue
  }
  step(`${s.name}: ${s.title}`)
  await s.run(have) // exits with the failing command's status
  passed.push(s.name)
}
step('Summary')
console.log(`✔ passed: ${passed.join(', ') || 'none'}`)
if (skipped.length > 0) console.log(`⚠ skipped: ${skipped.join(', ')}`)
