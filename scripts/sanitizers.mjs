// `npm run sanitizers`: the core crate's tests under memory checkers.
//
// 1. AddressSanitizer + LeakSanitizer: `cargo test -p ruvector-temporal-tensor --all-features`
//    (every unit and integration test, the `ttc_*` FFI tests included; doctests are skipped, as
//    rustdoc cannot cross-build them for an explicit --target), built by Debian's rustc-web with
//    RUSTC_BOOTSTRAP=1, `-Zsanitizer=address` and `-Zbuild-std` (std instrumented too) for
//    x86_64-unknown-linux-gnu in target/asan. Run twice: with the best kernels (AVX2/BMI2 here)
//    and with TEMPORAL_TENSOR_FORCE_SCALAR=1.
// 2. Valgrind memcheck (`--error-exitcode=1 --leak-check=full`) on the FFI test binaries
//    (tests/ffi_c_abi.rs and tests/regressions.rs), built normally (target/valgrind).
//
// Miri is not available here (rustc-web ships no Miri and rustup has no nightly), so it is not run.
// Exits non-zero when any stage fails.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ensureAsanRuntime } from './fuzz.mjs'
import { root, step } from './lib.mjs'
import { ensureSystem } from './setup.mjs'
import { buildStd, NIGHTLY_CARGO, nightlyEnv } from './toolchain.mjs'

const TARGET = 'x86_64-unknown-linux-gnu'
const CRATE = 'ruvector-temporal-tensor'

/** Runs a command with inherited output plus a captured copy; returns { status, output }. */
function runTee(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
  process.stdout.write(result.stdout ?? '')
  process.stderr.write(result.stderr ?? '')
  return { status: result.error ? -1 : result.status ?? 1, output }
}

/** Sums cargo's `test result:` lines. */
function testCounts(output) {
  const counts = { passed: 0, failed: 0, ignored: 0, filtered: 0, binaries: 0 }
  for (const m of output.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; \d+ measured; (\d+) filtered out/g)) {
    counts.passed += Number(m[1])
    counts.failed += Number(m[2])
    counts.ignored += Number(m[3])
    counts.filtered += Number(m[4])
    counts.binaries += 1
  }
  return counts
}

/**
 * Leaks LeakSanitizer must not report: deliberate ones in test code only (the golden-vector
 * test leaks its case names to get `&'static str`).
 */
const LSAN_SUPPRESSIONS = ['leak:golden_vectors::cases']

function asan(label, extraEnv) {
  step(`AddressSanitizer + LeakSanitizer: ${CRATE} --all-features (${label})`)
  const targetDir = join(root, 'target', 'asan')
  mkdirSync(targetDir, { recursive: true })
  const suppressions = join(targetDir, 'lsan.supp')
  writeFileSync(suppressions, `${LSAN_SUPPRESSIONS.join('\n')}\n`)
  const flags = '-Zsanitizer=address -Cforce-frame-pointers=yes -Cdebuginfo=1'
  const env = nightlyEnv({
    RUSTFLAGS: flags,
    ASAN_OPTIONS: 'detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:abort_on_error=0',
    LSAN_OPTIONS: `report_objects=1:print_suppressions=0:suppressions=${suppressions}`,
    ...extraEnv,
  })
  const args = [
    'test', '-p', CRATE, '--all-features', '--lib', '--tests', '--no-fail-fast',
    '--target', TARGET, buildStd('std', 'panic_abort', 'panic_unwind', 'test'),
    '--target-dir', targetDir,
    // One test at a time: tests/ffi_c_abi.rs's handle-reuse test assumes no other test creates a
    // handle between its free and create (a race its parallel siblings can win, which ASan's
    // slower timing exposes). The core's own threads are still exercised by the threaded tests.
    '--', '--test-threads=1',
  ]
  const { status, output } = runTee(NIGHTLY_CARGO, args, { env })
  const findings = [...output.matchAll(/ERROR: (AddressSanitizer|LeakSanitizer)[^\n]*/g)].map((m) => m[0])
  return { stage: `asan (${label})`, ok: status === 0 && findings.length === 0, status, findings, ...testCounts(output) }
}

/** Paths of the test executables cargo builds for `tests`. */
function testBinaries(tests, targetDir) {
  const args = ['test', '-p', CRATE, '--all-features', '--no-run', '--message-format=json', '--target-dir', targetDir]
  for (const t of tests) args.push('--test', t)
  const result = spawnSync('cargo', args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  if (result.status !== 0) {
    process.stderr.write(result.stderr ?? '')
    return null
  }
  const bins = {}
  for (const line of result.stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    const msg = JSON.parse(line)
    if (msg.reason === 'compiler-artifact' && msg.executable && msg.target?.kind?.includes('test')) {
      bins[msg.target.name] = msg.executable
    }
  }
  return bins
}

function valgrind() {
  step('Valgrind memcheck: the FFI test binaries (ffi_c_abi, regressions)')
  if (!ensureSystem('valgrind')) return [{ stage: 'valgrind', ok: false, status: 1, findings: ['valgrind is not installed (see above)'] }]
  const bins = testBinaries(['ffi_c_abi', 'regressions'], join(root, 'target', 'valgrind'))
  if (!bins) return [{ stage: 'valgrind (build)', ok: false, status: 1, findings: ['build failed'] }]
  const results = []
  for (const [name, exe] of Object.entries(bins)) {
    // Filling the whole handle table (1M creates) is slow under valgrind; ASan runs that one.
    const skip = name === 'regressions' ? ['--skip', 'live_handles_beyond_the_maximum'] : []
    const args = [
      '--tool=memcheck', '--error-exitcode=1', '--leak-check=full', '--errors-for-leak-kinds=definite,indirect',
      '--track-origins=yes', exe, '--test-threads=1', ...skip,
    ]
    const { status, output } = runTee('valgrind', args, { env: { ...process.env, RUST_BACKTRACE: '0' } })
    const summary = /ERROR SUMMARY: (\d+) errors/.exec(output)
    const findings = [...output.matchAll(/==\d+== (Invalid [^\n]*|Conditional jump[^\n]*|Use of uninitialised[^\n]*|[\d,]+ bytes in [\d,]+ blocks are definitely lost[^\n]*)/g)].map((m) => m[1])
    results.push({
      stage: `valgrind (${name}${skip.length ? ', without the 1M-handle fill' : ''})`,
      ok: status === 0 && findings.length === 0,
      status,
      findings,
      errorSummary: summary ? Number(summary[1]) : undefined,
      ...testCounts(output),
    })
  }
  return results
}

export function sanitizers() {
  if (!ensureAsanRuntime()) {
    console.error('AddressSanitizer is unavailable for /usr/bin/rustc')
    process.exit(1)
  }
  const results = [asan('best kernels', {}), asan('scalar kernels', { TEMPORAL_TENSOR_FORCE_SCALAR: '1' }), ...valgrind()]
  step('Sanitizer summary')
  for (const r of results) {
    const tests = r.binaries !== undefined ? `${r.passed} passed, ${r.failed} failed, ${r.ignored} ignored in ${r.binaries} binaries` : ''
    const memcheck = r.errorSummary !== undefined ? `; memcheck ERROR SUMMARY: ${r.errorSummary} errors` : ''
    console.log(`${r.ok ? '✔' : '✖'} ${r.stage}: ${tests}${memcheck}${r.findings.length ? `; findings: ${r.findings.slice(0, 5).join(' | ')}` : '; no findings'}`)
  }
  console.log('(Miri: not available on this machine, not run.)')
  return results.every((r) => r.ok)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exit(sanitizers() ? 0 : 1)
}
