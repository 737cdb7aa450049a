// `npm run fuzz [-- --seconds N] [target ...]`: runs the cargo-fuzz targets of fuzz/ (libFuzzer +
// AddressSanitizer) for N seconds each (default 30, or FUZZ_SECONDS), seeded with the golden
// vectors (both packed layouts), and prints executions and findings per target. Exits non-zero
// when a target crashes
// (the reproducer is in fuzz/artifacts/<target>/; replay it with
// `RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 cargo fuzz run -a <target> <file>` in fuzz/).
//
// Needs a nightly-capable rustc: Debian's rustc-web (/usr/bin/rustc) with RUSTC_BOOTSTRAP=1. This
// script installs what is missing: rustc-web, cargo-fuzz (crates.io), and the AddressSanitizer
// runtime (Debian's compiler-rt for the LLVM that rustc-web uses, linked where rustc looks for it).
//
// `fuzzShort()` is the short form used by `npm test`: every target for ~8 s (about 40 s in all).
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, symlinkSync, unlinkSync, lstatSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { aptInstall, ensureSystem } from './setup.mjs'
import { probe, root, run, step } from './lib.mjs'
import { NIGHTLY_RUSTC, nightlyEnv } from './toolchain.mjs'

export const TARGETS = ['segment_decode', 'coded_decode', 'bitpack', 'compressor_roundtrip', 'ffi_sequences']
const CARGO_FUZZ_VERSION = '0.13.2'
const fuzzDir = join(root, 'fuzz')
const vectorsDir = join(root, 'crates', 'ruvector-temporal-tensor', 'tests', 'vectors')

/**
 * Makes `-Zsanitizer=address` link with /usr/bin/rustc: Debian's rustc-web ships no sanitizer
 * runtimes, so link compiler-rt's (from libclang-rt-<llvm>-dev, same LLVM major as rustc) under
 * the name rustc expects. Returns false (with a message) when that is not possible.
 */
export function ensureAsanRuntime() {
  if (!ensureSystem('nightly')) return false
  const version = probe(NIGHTLY_RUSTC, ['-vV']) ?? ''
  const llvm = /LLVM version: (\d+)/.exec(version)?.[1]
  const sysroot = probe(NIGHTLY_RUSTC, ['--print', 'sysroot'])
  if (!llvm || !sysroot) {
    console.error(`cannot query ${NIGHTLY_RUSTC} (-vV / --print sysroot)`)
    return false
  }
  const libDir = join(sysroot, 'lib', 'rustlib', 'x86_64-unknown-linux-gnu', 'lib')
  const wanted = join(libDir, 'librustc-stable_rt.asan.a')
  if (existsSync(wanted)) return true
  const source = `/usr/lib/llvm-${llvm}/lib/clang/${llvm}/lib/linux/libclang_rt.asan-x86_64.a`
  if (!existsSync(source)) {
    step(`Installing libclang-rt-${llvm}-dev (Debian): the AddressSanitizer runtime for ${NIGHTLY_RUSTC}'s LLVM ${llvm}`)
    aptInstall([`libclang-rt-${llvm}-dev`])
  }
  if (!existsSync(source)) {
    console.error(`${source} is missing after installing libclang-rt-${llvm}-dev`)
    return false
  }
  try {
    if (lstatSync(wanted, { throwIfNoEntry: false })) unlinkSync(wanted) // a dangling link
    symlinkSync(source, wanted)
  } catch (e) {
    console.error(`cannot link ${wanted} -> ${source}: ${e.message} (run as root once)`)
    return false
  }
  return existsSync(wanted)
}

/** Installs cargo-fuzz from crates.io when missing. */
export function ensureCargoFuzz() {
  const installed = existsSync(join(homedir(), '.cargo', 'bin', 'cargo-fuzz')) || probe('cargo', ['fuzz', '--version']) !== null
  if (installed) return
  step(`Installing cargo-fuzz ${CARGO_FUZZ_VERSION} (cargo install)`)
  run('cargo', ['install', `cargo-fuzz@${CARGO_FUZZ_VERSION}`, '--locked'])
}

/**
 * Seeds of `coded_decode`'s generated form (see fuzz/fuzz_targets/coded_decode.rs): a flags byte
 * (bit 0: generate a valid coded segment from the input; bit 1: recompute the checksum after the
 * mutations; bit 2: over the whole length; bit 3: trailing bytes; bit 4: split two copies), then
 * bytes from a fixed LCG that pick the segment's shape, values and mutations.
 */
function codedSeeds() {
  const seeds = []
  for (const flags of [0x01, 0x03, 0x07, 0x0b, 0x13]) {
    for (const salt of [1, 2, 3]) {
      const bytes = [flags]
      let x = (flags * 7919 + salt * 104729) >>> 0
      for (let i = 0; i < 96; i++) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0
        bytes.push(x >>> 24)
      }
      seeds.push([`generated-${flags.toString(16).padStart(2, '0')}-${salt}`, Buffer.from(bytes)])
    }
  }
  return seeds
}

/**
 * Copies the golden vectors, and the reproducers of fixed bugs (fuzz/regressions/<target>/), into
 * every target's corpus (libFuzzer keeps what it finds there), so each run replays them first.
 * `coded_decode` also gets seeds of its generated form.
 */
export function seedCorpora(targets = TARGETS) {
  // The compressor's vectors, the frame-padded layout's (tests/vectors/padded/) and the
  // version-3 and version-4 coded segments (tests/vectors/coded-v3/, coded-v4/).
  const seeds = ['', 'padded', 'coded-v3', 'coded-v4'].flatMap((sub) =>
    readdirSync(join(vectorsDir, sub))
      .filter((f) => f.endsWith('.tqtc'))
      .map((f) => join(sub, f)),
  )
  for (const target of targets) {
    const dir = join(fuzzDir, 'corpus', target)
    mkdirSync(dir, { recursive: true })
    for (const seed of seeds) {
      const to = join(dir, `seed-${seed.replace('/', '-')}`)
      if (!existsSync(to)) copyFileSync(join(vectorsDir, seed), to)
    }
    if (target === 'coded_decode') {
      for (const [name, bytes] of codedSeeds()) {
        const to = join(dir, `seed-${name}`)
        if (!existsSync(to)) writeFileSync(to, bytes)
      }
    }
    const fixed = join(fuzzDir, 'regressions', target)
    if (existsSync(fixed)) {
      for (const f of readdirSync(fixed)) copyFileSync(join(fixed, f), join(dir, `regression-${f}`))
    }
  }
  return seeds.length
}

function artifacts(target) {
  const dir = join(fuzzDir, 'artifacts', target)
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^(crash|leak|timeout|oom|slow-unit)-/.test(f)) : []
}

/** libFuzzer's closing statistics from its output. */
export function parseStats(output) {
  const stat = (name) => {
    const m = new RegExp(`stat::${name}:\\s*(\\d+)`).exec(output)
    return m ? Number(m[1]) : undefined
  }
  let execs = stat('number_of_executed_units')
  let perSec = stat('average_exec_per_sec')
  const done = /#(\d+)\s+DONE\s.*?exec\/s: (\d+)/.exec(output)
  const runs = /Done (\d+) runs in (\d+) second/.exec(output)
  execs ??= done ? Number(done[1]) : runs ? Number(runs[1]) : undefined
  perSec ??= done ? Number(done[2]) : runs && Number(runs[2]) > 0 ? Math.round(Number(runs[1]) / Number(runs[2])) : undefined
  const cov = /cov: (\d+) ft: (\d+) corp: (\d+)/g
  let last
  for (let m; (m = cov.exec(output)); ) last = m
  return {
    execs,
    perSec,
    coverage: last ? Number(last[1]) : undefined,
    features: last ? Number(last[2]) : undefined,
    corpus: last ? Number(last[3]) : undefined,
    newUnits: stat('new_units_added'),
    peakRssMb: stat('peak_rss_mb'),
  }
}

/** Builds every target once (so the timed runs measure fuzzing, not compiling). */
export function buildTargets(sanitizer = 'address') {
  step(`Building the fuzz targets (cargo fuzz build, sanitizer: ${sanitizer}, debug assertions)`)
  run('cargo', ['fuzz', 'build', '--debug-assertions', `--sanitizer=${sanitizer}`], { cwd: fuzzDir, env: nightlyEnv() })
}

/** Runs one target for `seconds`; returns its statistics and findings. */
function fuzzTarget(target, seconds, sanitizer) {
  const before = new Set(artifacts(target))
  mkdirSync(join(fuzzDir, 'artifacts', target), { recursive: true })
  const args = [
    'fuzz', 'run', '--debug-assertions', `--sanitizer=${sanitizer}`, target, join('corpus', target), '--',
    `-max_total_time=${seconds}`, '-print_final_stats=1', '-timeout=20', '-rss_limit_mb=3072',
    '-max_len=4096',
  ]
  const result = spawnSync('cargo', args, {
    cwd: fuzzDir,
    env: nightlyEnv(),
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    // A hard stop well after libFuzzer's own, in case a run hangs.
    timeout: (seconds + 300) * 1000,
    killSignal: 'SIGKILL',
  })
  const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`
  const findings = artifacts(target).filter((f) => !before.has(f))
  const status = result.error ? String(result.error.message) : result.status ?? result.signal
  return { target, seconds, status, output, findings, ...parseStats(output) }
}

const fmt = (n) => (n === undefined ? '?' : n.toLocaleString('en-US'))

/**
 * Runs `targets` for `seconds` each, one after another; prints a table. Returns the results;
 * `ok` is false when any target crashed or failed to run.
 */
export function fuzz({ seconds = 30, targets = TARGETS, build = true } = {}) {
  ensureCargoFuzz()
  // Without the ASan runtime, fuzz anyway (panics and debug assertions are still caught).
  const sanitizer = ensureAsanRuntime() ? 'address' : 'none'
  if (sanitizer === 'none') console.warn('⚠ AddressSanitizer is unavailable for /usr/bin/rustc: fuzzing without it')
  const seeds = seedCorpora(targets)
  if (build) buildTargets(sanitizer)
  const results = []
  for (const target of targets) {
    step(`Fuzzing ${target} for ${seconds} s (seeded with ${seeds} golden vectors)`)
    const r = fuzzTarget(target, seconds, sanitizer)
    results.push(r)
    const crashed = r.status !== 0 || r.findings.length > 0
    console.log(
      `${target}: ${fmt(r.execs)} execs, ${fmt(r.perSec)} exec/s, cov ${fmt(r.coverage)}, corpus ${fmt(r.corpus)}` +
        (crashed ? `  ✖ CRASH (exit ${r.status})` : '  ✔ no findings'),
    )
    if (crashed) {
      const lines = r.output.split('\n')
      const from = Math.max(0, lines.findIndex((l) => /panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)/.test(l)))
      console.log(lines.slice(from, from + 40).join('\n'))
      for (const f of r.findings) console.log(`  reproducer: fuzz/artifacts/${target}/${f}`)
    }
  }
  step('Fuzzing summary')
  console.log('target                  execs        exec/s   findings')
  for (const r of results) {
    const findings = r.status !== 0 || r.findings.length ? r.findings.join(', ') || `exit ${r.status}` : 'none'
    console.log(`${r.target.padEnd(22)} ${fmt(r.execs).padStart(12)} ${fmt(r.perSec).padStart(10)}   ${findings}`)
  }
  const ok = results.every((r) => r.status === 0 && r.findings.length === 0)
  return { ok, results }
}

/**
 * The short form for `npm test`: every target for ~8 s (FUZZ_SHORT_SECONDS overrides), about 40 s
 * of fuzzing for the five targets.
 */
export function fuzzShort() {
  const seconds = Number(process.env.FUZZ_SHORT_SECONDS ?? 8)
  step(`Fuzzing (short: ~${seconds} s per target)`)
  const { ok } = fuzz({ seconds })
  if (!ok) {
    console.error('\n✖ a fuzz target crashed (see above)')
    process.exit(1)
  }
}

function parseArgs(argv) {
  let seconds = Number(process.env.FUZZ_SECONDS ?? 30)
  const targets = []
  let build = true
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--seconds' || a === '-s') seconds = Number(argv[++i])
    else if (a.startsWith('--seconds=')) seconds = Number(a.slice('--seconds='.length))
    else if (a === '--no-build') build = false
    else if (a === '--help' || a === '-h') {
      console.log(`usage: npm run fuzz -- [--seconds N] [--no-build] [${TARGETS.join('|')} ...]`)
      process.exit(0)
    } else if (TARGETS.includes(a)) targets.push(a)
    else {
      console.error(`unknown argument ${a}; targets: ${TARGETS.join(', ')}`)
      process.exit(2)
    }
  }
  if (!Number.isInteger(seconds) || seconds <= 0) {
    console.error('--seconds must be a positive integer')
    process.exit(2)
  }
  return { seconds, targets: targets.length ? targets : TARGETS, build }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { ok } = fuzz(parseArgs(process.argv.slice(2)))
  process.exit(ok ? 0 : 1)
}
