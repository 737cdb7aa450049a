// The Python binding (crates/ruvector-temporal-tensor-py): a build venv with maturin, numpy and
// pytest (created once, reused while it works), the abi3 wheel (rebuilt when the Rust sources
// change), then a FRESH venv per run where the wheel is installed with pip and the pytest suite
// runs against it, with segments the Node facade writes for the byte-for-byte comparison.
//
// `node scripts/python.mjs`          everything above (what `npm test` runs)
// `node scripts/python.mjs --build`  only the build venv and the wheel (the bench also installs
//                                   it into the build venv: benchPython())
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { probe, root, run, stale, step } from './lib.mjs'
import { ensureSystem } from './setup.mjs'

const crate = join(root, 'crates', 'ruvector-temporal-tensor-py')
export const buildVenv = join(root, 'target', 'py-venv')
export const venvPython = (venv) => join(venv, 'bin', 'python')
const wheelDir = join(root, 'target', 'wheels')
/** What the build venv holds (from PyPI). */
const BUILD_REQUIREMENTS = ['maturin>=1.9,<2', 'numpy>=1.21', 'pytest>=7']
const PYTHON = process.env.PYTHON ?? 'python3'

/** Creates a venv at `dir` with `packages` unless `check` (a Python import line) already works. */
function ensureVenv(dir, packages, check) {
  if (existsSync(venvPython(dir)) && probe(venvPython(dir), ['-c', check]) !== null) return
  step(`Python venv ${dir}: ${packages.join(' ')}`)
  // Debian splits venv/ensurepip out of python3 (scripts/setup.mjs installs python3-venv).
  if (!ensureSystem('python')) {
    console.error(`✖ ${PYTHON} cannot make a venv (see above)`)
    process.exit(1)
  }
  rmSync(dir, { recursive: true, force: true })
  run(PYTHON, ['-m', 'venv', dir])
  run(venvPython(dir), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...packages])
}

/** The built wheel's path, or null. */
function findWheel() {
  if (!existsSync(wheelDir)) return null
  const wheels = readdirSync(wheelDir).filter((f) => f.startsWith('temporal_tensor-') && f.endsWith('.whl'))
  return wheels.length === 1 ? join(wheelDir, wheels[0]) : null
}

/** Builds the abi3 wheel into target/wheels when missing or older than its sources. */
export function buildWheel() {
  ensureVenv(buildVenv, BUILD_REQUIREMENTS, 'import numpy, pytest, maturin')
  const wheel = findWheel()
  const inputs = ['crates/ruvector-temporal-tensor', 'crates/ruvector-temporal-tensor-py', 'Cargo.lock']
  if (wheel && !stale(wheel.slice(root.length + 1), inputs)) return wheel
  step('Building the Python wheel (maturin build --release)')
  rmSync(wheelDir, { recursive: true, force: true })
  mkdirSync(wheelDir, { recursive: true })
  run(join(buildVenv, 'bin', 'maturin'), [
    'build', '--release', '--quiet', '--manifest-path', join(crate, 'Cargo.toml'), '--out', wheelDir,
    '--interpreter', venvPython(buildVenv),
  ])
  const built = findWheel()
  if (!built) {
    console.error(`no wheel in ${wheelDir} after maturin build`)
    process.exit(1)
  }
  return built
}

/** The build venv with the current wheel installed in it (for the bench); returns its python. */
export function benchPython() {
  const wheel = buildWheel()
  const marker = join(buildVenv, '.installed-wheel')
  const stamp = `${wheel} ${statSync(wheel).mtimeMs}`
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== stamp) {
    run(venvPython(buildVenv), [
      '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--force-reinstall', wheel,
    ])
    writeFileSync(marker, stamp)
  }
  return venvPython(buildVenv)
}

/** A deterministic random walk: `frames × tensorLen` floats. */
function walk(frames, tensorLen, seed) {
  let state = seed >>> 0
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state / 2 ** 32 - 0.5
  }
  const out = new Float32Array(frames * tensorLen)
  const level = Float32Array.from({ length: tensorLen }, () => 2 * next())
  for (let t = 0; t < frames; t++) {
    for (let i = 0; i < tensorLen; i++) {
      level[i] += 0.1 * next()
      out[t * tensorLen + i] = level[i]
    }
  }
  return out
}

/** Writes segments with the Node facade (dist/) into `dir`, and a manifest the pytest reads. */
export async function writeNodeFixtures(dir) {
  const tt = await import(pathToFileURL(join(root, 'dist', 'index.mjs')).href)
  const cases = []
  for (const format of ['packed', 'coded']) {
    for (const fixedBits of [8, 7, 5, 3]) {
      const name = `node-${format}-${fixedBits}bit`
      const tensorLen = 100 + fixedBits
      const policy = { fixedBits, groupLen: 32, maxSegmentFrames: 10 }
      const keyframeInterval = 4
      const input = walk(24, tensorLen, fixedBits * 31 + format.length)
      const c = new tt.TemporalTensorCompressor({ tensorLen, policy, format, keyframeInterval })
      const segments = c.pushMany(input, 1)
      const last = c.flush()
      if (last) segments.push(last)
      const decoded = segments.flatMap((s) => Array.from(tt.decodeSegment(s)))
      writeFileSync(join(dir, `${name}.input.f32`), Buffer.from(input.buffer))
      writeFileSync(join(dir, `${name}.tqtc`), Buffer.concat(segments.map((s) => Buffer.from(s))))
      writeFileSync(join(dir, `${name}.decoded.f32`), Buffer.from(Float32Array.from(decoded).buffer))
      cases.push({
        name, format, tensorLen, policy, keyframeInterval, ts: 1, backend: tt.backend,
        input: `${name}.input.f32`, tqtc: `${name}.tqtc`, decoded: `${name}.decoded.f32`,
      })
    }
  }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(cases, null, 1))
  return cases.length
}

/** Installs the wheel into a fresh venv and runs the pytest suite there. */
export async function testPython() {
  const wheel = buildWheel()
  const tmp = mkdtempSync(join(tmpdir(), 'tt-py-'))
  try {
    const venv = join(tmp, 'venv')
    step(`Fresh venv: pip install ${wheel.slice(root.length + 1)} pytest`)
    run(PYTHON, ['-m', 'venv', venv])
    run(venvPython(venv), [
      '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', wheel, 'pytest>=7',
    ])
    const fixtures = join(tmp, 'node-fixtures')
    mkdirSync(fixtures)
    const count = await writeNodeFixtures(fixtures)
    step(`pytest (golden vectors, padded layout, ${count} Node-written streams, errors)`)
    // Run from the temp dir so `temporal_tensor` can only come from the installed wheel.
    const result = spawnSync(
      venvPython(venv),
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', join(crate, 'tests')],
      { stdio: 'inherit', cwd: tmp, env: { ...process.env, TT_NODE_FIXTURES: fixtures } },
    )
    if (result.status !== 0) {
      console.error(`\n✖ pytest exited with ${result.status ?? result.signal}`)
      process.exit(result.status ?? 1)
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv.includes('--build')) console.log(buildWheel())
  else await testPython()
}
