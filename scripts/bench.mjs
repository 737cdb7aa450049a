// `npm run bench`: Rust, Node native, Node WASM and the Python binding on the same workload, in
// one table.
//
// Builds what is missing, then runs the Rust bench (benches/rust/core.rs: every kernel set the
// CPU supports side by side, stable and drifting streams, with the CPU's vendor/family/model and
// the set in every row), the tinybench bench of the npm API (benches/node/bench.mjs) in one child
// process per backend/kernels (native best, native scalar, native avx2 without BMI2 where the
// default differs, WASM simd128, WASM baseline; the JS baselines —
// Float32Array copies and a plain TypeScript int8 quantizer — run in the first), the Python
// binding's bench (benches/python/bench.py: the wheel from scripts/python.mjs, numpy arrays in,
// segments out, the Node bench's frames and settings), and the memory
// bench (benches/node/memory.mjs) on native and WASM, each run's raw rows in target/bench/. Then
// scripts/bench-report.mjs prints one table (ns/frame, GB/s of f32 input, ratio to Rust with the
// best kernels, ratio to the TypeScript baseline), the memory figures and the goals, and writes
// bench-results/results.json, results.md and chart.svg. Another bench's rows join by adding a
// run here that appends rows of the same shape (see bench-report.mjs).
//
//   npm run bench                    the real run (several minutes)
//   node scripts/bench.mjs --quick   smoke run (BENCH_QUICK=1 everywhere; under ~2 minutes),
//                                    written to target/bench/quick/ so bench-results/ keeps the real run
//   node scripts/bench.mjs --report  no runs: the report again from the raw results in target/bench/
//
// Figures are reported, never asserted: this runs on shared, noisy machines.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { report } from './bench-report.mjs'
import { probe, root, step } from './lib.mjs'
import { setup } from './setup.mjs'
import { benchPython } from './python.mjs'

const QUICK = process.argv.includes('--quick')
// --report: no runs, rebuild the table, markdown and chart from the last raw results in target/bench/
const REPORT = process.argv.includes('--report')
const outDir = join(root, QUICK ? 'target/bench/quick' : 'bench-results')
const workDir = join(root, 'target/bench')
mkdirSync(outDir, { recursive: true })
mkdirSync(workDir, { recursive: true })

if (!REPORT) setup({ needs: ['js', 'wasm'] })

const BACKEND_VARS = ['TEMPORAL_TENSOR_BACKEND', 'TEMPORAL_TENSOR_FORCE_SCALAR', 'TEMPORAL_TENSOR_KERNELS', 'TEMPORAL_TENSOR_WASM_SIMD', 'BENCH_QUICK', 'BENCH_JSON', 'BENCH_MEMORY_JSON', 'BENCH_BASELINES', 'BENCH_KERNELS', 'BENCH_SETS', 'BENCH_STREAMS']
function childEnv(extra) {
  const env = { ...process.env }
  for (const k of BACKEND_VARS) delete env[k]
  if (QUICK) env.BENCH_QUICK = '1'
  return { ...env, ...extra }
}

/** Runs a bench step with its stdout captured (stderr shown); returns true when it succeeded. */
function runStep(label, cmd, args, env, { optional = false, output } = {}) {
  if (REPORT) return output !== undefined && existsSync(output)
  step(label)
  const t0 = Date.now()
  const r = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 })
  const ok = !r.error && r.status === 0
  if (!ok) {
    process.stdout.write(r.stdout ?? '')
    const why = r.error ? r.error.message : `exit ${r.status ?? r.signal}`
    if (!optional) {
      console.error(`✖ ${label} failed (${why})`)
      process.exit(1)
    }
    console.warn(`⚠ ${label} skipped (${why})`)
  } else {
    console.log(`  done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  }
  return ok
}

const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'))

// ---- machine ----

const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : ''
const cpuModel = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown'
const flags = cpuinfo.match(/^flags\s*:\s*(.+)$/m)?.[1]?.split(/\s+/) ?? []
const cpuField = (name) => cpuinfo.match(new RegExp(`^${name}\\s*:\\s*(.+)$`, 'm'))?.[1]?.trim()
const machine = {
  cpu: cpuModel,
  cpuVendor: cpuField('vendor_id'),
  cpuFamily: cpuField('cpu family') === undefined ? undefined : Number(cpuField('cpu family')),
  cpuModelNumber: cpuField('model') === undefined ? undefined : Number(cpuField('model')),
  cores: os.availableParallelism?.() ?? os.cpus().length,
  simd: ['avx2', 'bmi2', 'avx512f'].filter((f) => flags.includes(f)).join(' ') || undefined,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
  node: process.version,
  rustc: probe('rustc', ['--version']) ?? 'unknown',
  commit: (probe('git', ['rev-parse', '--short', 'HEAD']) ?? 'unknown') + (probe('git', ['status', '--porcelain', '--untracked-files=no']) ? ' (modified)' : ''),
  loadAtStart: os.loadavg().map((x) => +x.toFixed(2)),
}
const run = { date: new Date().toISOString(), machine }

// ---- runs ----

const rustJson = join(workDir, 'rust.json')
runStep(
  'Rust bench (cargo bench --bench core, every kernel set side by side)',
  'cargo',
  ['bench', '-p', 'ruvector-temporal-tensor', '--bench', 'core'],
  childEnv({ BENCH_JSON: rustJson }),
  { output: rustJson },
)
const rows = readJson(rustJson)
// Rows from before the bench recorded streams are the stable stream.
for (const r of rows) r.stream ??= 'stable'
const rustDefault = rows.find((r) => r.backend === 'rust' && r.isDefault)?.kernels

const NODE_RUNS = [
  { label: 'native-best', title: 'Node bench: native, best kernels (+ JS baselines)', env: { TEMPORAL_TENSOR_BACKEND: 'native', BENCH_BASELINES: '1' }, expect: 'native' },
  { label: 'native-scalar', title: 'Node bench: native, scalar kernels', env: { TEMPORAL_TENSOR_BACKEND: 'native', TEMPORAL_TENSOR_FORCE_SCALAR: '1', BENCH_BASELINES: '0' }, expect: 'native' },
  // AVX2 without BMI2 (what AMD Zen 1/2 get), when the default set on this CPU is another one.
  ...(flags.includes('avx2') && rustDefault && rustDefault !== 'avx2'
    ? [{ label: 'native-avx2', title: 'Node bench: native, avx2 kernels (TEMPORAL_TENSOR_KERNELS=avx2)', env: { TEMPORAL_TENSOR_BACKEND: 'native', TEMPORAL_TENSOR_KERNELS: 'avx2', BENCH_BASELINES: '0' }, expect: 'native' }]
    : []),
  { label: 'wasm-simd128', title: 'Node bench: WASM simd128', env: { TEMPORAL_TENSOR_BACKEND: 'wasm', BENCH_BASELINES: '0' }, expect: 'wasm' },
  { label: 'wasm-baseline', title: 'Node bench: WASM baseline module (TEMPORAL_TENSOR_WASM_SIMD=0)', env: { TEMPORAL_TENSOR_BACKEND: 'wasm', TEMPORAL_TENSOR_WASM_SIMD: '0', BENCH_BASELINES: '0' }, expect: 'wasm' },
]
const skipped = []
for (const nodeRun of NODE_RUNS) {
  const path = join(workDir, `node-${nodeRun.label}.json`)
  const ok = runStep(nodeRun.title, process.execPath, ['benches/node/bench.mjs'], childEnv({ ...nodeRun.env, BENCH_JSON: path }), {
    optional: nodeRun.expect === 'native',
    output: path,
  })
  if (!ok) {
    skipped.push(nodeRun.label)
    continue
  }
  const forced = nodeRun.env.TEMPORAL_TENSOR_KERNELS
  rows.push(...readJson(path).map((r) => (forced ? { ...r, forced: `TEMPORAL_TENSOR_KERNELS=${forced}` } : r)))
}

// The Python binding: the wheel installed in the build venv, the Node bench's workload.
{
  const path = join(workDir, 'python.json')
  const python = REPORT ? 'python3' : benchPython()
  const ok = runStep('Python bench: temporal_tensor wheel, numpy in, segments out', python, ['benches/python/bench.py'], childEnv({ BENCH_JSON: path }), {
    optional: true,
    output: path,
  })
  if (ok) rows.push(...readJson(path))
  else skipped.push('python')
}

const memory = []
for (const [label, env] of [
  ['native', { TEMPORAL_TENSOR_BACKEND: 'native' }],
  ['wasm', { TEMPORAL_TENSOR_BACKEND: 'wasm' }],
]) {
  const path = join(workDir, `memory-${label}.json`)
  const ok = runStep(`Memory bench: ${label}`, process.execPath, ['benches/node/memory.mjs'], childEnv({ ...env, BENCH_MEMORY_JSON: path }), {
    optional: label === 'native',
    output: path,
  })
  if (ok) memory.push(readJson(path))
  else skipped.push(`memory-${label}`)
}
machine.loadAtEnd = os.loadavg().map((x) => +x.toFixed(2))
const runInfo = join(workDir, 'run.json')
if (REPORT && existsSync(runInfo)) Object.assign(run, readJson(runInfo))
else writeFileSync(runInfo, `${JSON.stringify(run)}\n`)
const { machine: m0, date } = run
Object.assign(machine, m0)

report({ rows, memory, machine, date, quick: QUICK, skipped, outDir })
