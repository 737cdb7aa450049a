// `npm run setup`: installs and builds what this checkout lacks, and nothing more. Quick when
// everything is present.
//
// - npm dependencies (`npm ci`) when package-lock.json is newer than node_modules;
// - system packages, only for the pieces asked for and only those missing, each install saying
//   which packages and why (FEATURES below). They come from Debian (apt-get, through sudo when not
//   root). Where apt-get is absent (macOS, other distributions) nothing is installed: the message
//   says what to install by hand, and the pieces that need it are skipped by their callers;
// - the native addon, the .wasm modules and the TypeScript bundle when their sources changed.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { buildTs } from './build-ts.mjs'
import { buildWasm } from './build-wasm.mjs'
import { probe, root, run, stale, step } from './lib.mjs'
import { AARCH64_PACKAGES, NIGHTLY_PACKAGES, wasmPackages } from './toolchain.mjs'

/**
 * What each piece of the suite needs from the system: why, the Debian packages that provide it
 * (`[name, marker]`: an absolute path that exists once installed, a command that then runs, or a
 * function that checks), what to do by hand where apt-get is absent, and `byDefault: false` for
 * what only a script outside `npm test` needs.
 */
export const FEATURES = {
  wasm: {
    why: 'to build the WebAssembly modules (scripts/build-wasm.mjs)',
    packages: wasmPackages,
    byHand: 'install binaryen (wasm-opt) and run `rustup target add wasm32-unknown-unknown`',
  },
  browser: {
    why: 'for the browser test (__test__/browser.test.ts drives headless Chromium)',
    packages: () => (process.env.CHROMIUM_PATH ? [] : [['chromium', '/usr/bin/chromium']]),
    byHand: 'install Chromium and set CHROMIUM_PATH to its executable',
  },
  aarch64: {
    why: 'to run the core tests on aarch64 (NEON) under qemu-user (scripts/test-aarch64.mjs)',
    packages: () => AARCH64_PACKAGES,
    byHand: 'these recipes need Debian packages (rustc-web, an aarch64 cross gcc, qemu-user-static)',
  },
  servers: {
    why: "for the store's Redis and PostgreSQL backend tests (scripts/servers.mjs starts throwaway servers)",
    packages: () => [
      ['redis-server', '/usr/bin/redis-server'],
      ['redis-tools', '/usr/bin/redis-cli'],
      ['postgresql', hasPostgresServer],
    ],
    byHand: 'install Redis and PostgreSQL (the scripts look for Debian paths: /usr/bin/redis-server, /usr/lib/postgresql/<v>/bin)',
  },
  python: {
    why: 'for the Python binding (scripts/python.mjs makes venvs)',
    packages: () => [['python3-venv', () => probe(process.env.PYTHON ?? 'python3', ['-c', 'import venv, ensurepip']) !== null]],
    byHand: 'install Python 3 with its venv module',
  },
  cc: {
    why: 'to compile the C example against the static library (scripts/c-abi.mjs)',
    packages: () => [['gcc', 'cc']],
    byHand: 'install a C compiler as cc',
  },
  valgrind: {
    why: 'for memcheck over the FFI test binaries (scripts/sanitizers.mjs)',
    packages: () => [['valgrind', 'valgrind']],
    byHand: 'install valgrind',
    byDefault: false, // only `npm run sanitizers` needs it
  },
  nightly: {
    why: 'for fuzzing and the sanitizers (a rustc that takes -Z flags: Debian rustc-web)',
    packages: () => NIGHTLY_PACKAGES,
    byHand: 'install a nightly Rust toolchain; the fuzz scripts expect Debian rustc-web at /usr/bin/rustc',
  },
}

/** True when a PostgreSQL server's programs are installed (Debian: /usr/lib/postgresql/<version>/bin). */
const hasPostgresServer = () =>
  existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(join('/usr/lib/postgresql', v, 'bin', 'initdb')))

/** True when a package marker is present: a check function says so, an absolute path exists, or a command runs. */
function present(marker) {
  if (typeof marker === 'function') return marker()
  return marker.startsWith('/') ? existsSync(marker) : probe(marker, ['--version']) !== null
}

/** How to call apt-get here (directly as root, else through sudo), or null when we cannot. */
function aptGet() {
  if (process.platform !== 'linux' || probe('apt-get', ['--version']) === null) return null
  if (process.getuid?.() === 0) return ['apt-get']
  return probe('sudo', ['-n', 'true']) === null ? null : ['sudo', 'apt-get']
}

let aptUpdated = false

/** `apt-get install` of Debian `packages` (exits on failure); false when apt-get is unavailable. */
export function aptInstall(packages) {
  const apt = aptGet()
  if (!apt) return false
  const [cmd, ...pre] = apt
  if (!aptUpdated) run(cmd, [...pre, 'update', '-q'])
  aptUpdated = true
  run(cmd, [...pre, 'install', '-y', '-q', '--no-install-recommends', ...packages])
  return true
}

const checked = new Map()

/**
 * Makes sure the system provides `feature` (a key of FEATURES), installing the missing Debian
 * packages when `install` is true and apt-get is usable. Returns whether it is available; when
 * not, prints which packages are missing, why they are needed, and what to do. Answers once per
 * process.
 */
export function ensureSystem(feature, { install = true } = {}) {
  const key = `${feature}:${install}`
  if (checked.has(key)) return checked.get(key)
  const f = FEATURES[feature]
  const missing = () => f.packages().filter(([, marker]) => !present(marker)).map(([name]) => name)
  let names = missing()
  if (names.length > 0 && install && aptGet()) {
    step(`Installing ${names.join(' ')} (Debian) ${f.why}`)
    aptInstall(names)
    names = missing()
  }
  if (names.length > 0) {
    const how = !install ? 'not installing system packages in this mode' : aptGet() ? 'still missing after apt-get' : `apt-get is not usable here; ${f.byHand}`
    console.warn(`⚠ ${names.join(', ')} missing, needed ${f.why}: ${how}`)
  }
  checked.set(key, names.length === 0)
  return names.length === 0
}

function ensureNodeModules() {
  const marker = join(root, 'node_modules', '.package-lock.json')
  const lock = join(root, 'package-lock.json')
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return
  step('Installing npm dependencies')
  run('npm', ['ci', '--no-audit', '--no-fund'])
}

function ensureRust() {
  if (probe('cargo', ['--version']) === null) {
    console.error('cargo was not found: install Rust with rustup (https://rustup.rs) and retry.')
    process.exit(1)
  }
}

/** The native addon built for this platform (`native/temporal-tensor.<platform>-<arch>….node`). */
function nativeAddon() {
  const prefix = `temporal-tensor.${process.platform}-${process.arch}`
  const dir = join(root, 'native')
  const found = existsSync(dir) ? readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.node')) : undefined
  return found ? `native/${found}` : null
}

const WASM_MODULES = ['wasm/temporal_tensor.wasm', 'wasm/temporal_tensor_simd.wasm']
const WASM_INPUTS = ['crates/ruvector-temporal-tensor', 'crates/ruvector-temporal-tensor-wasm', 'Cargo.toml', 'scripts/build-wasm.mjs', 'scripts/toolchain.mjs']

/** Builds the .wasm modules when stale; returns whether up-to-date modules are there. */
function ensureWasmModules({ install }) {
  if (!WASM_MODULES.some((out) => stale(out, WASM_INPUTS))) return true
  if (ensureSystem('wasm', { install })) {
    buildWasm()
    return true
  }
  const present = WASM_MODULES.every((out) => existsSync(join(root, out)))
  console.warn(`⚠ ${present ? 'the WebAssembly modules are older than their sources and cannot be rebuilt here' : 'no WebAssembly modules: the WASM backend and its tests are unavailable'}`)
  return false
}

/** What `npm run setup` prepares: everything `npm test` can use. */
const DEFAULT_NEEDS = ['js', ...Object.keys(FEATURES).filter((f) => FEATURES[f].byDefault !== false)]

/**
 * Installs and builds what `needs` require, and returns the set of those met. Needs: 'js' (npm
 * dependencies, native addon, TypeScript bundle with whatever .wasm modules there are), 'wasm'
 * (up-to-date .wasm modules, rebuilt when stale), and the other FEATURES keys (system packages). With
 * `install: false` no system package is installed (what is there is used).
 */
export function setup({ needs = DEFAULT_NEEDS, install = true, ...rest } = {}) {
  const unknown = [...Object.keys(rest), ...needs.filter((n) => n !== 'js' && !(n in FEATURES))]
  if (unknown.length) throw new Error(`setup(): unknown option or need ${unknown.join(', ')}`)
  const have = new Set()
  ensureNodeModules()
  ensureRust()
  for (const need of needs) if (need !== 'wasm' && need in FEATURES && ensureSystem(need, { install })) have.add(need)
  if (needs.includes('js') || needs.includes('wasm')) {
    const addon = nativeAddon()
    if (!addon || stale(addon, ['crates', 'Cargo.toml', 'Cargo.lock'])) {
      step('Building the native addon')
      run('npm', ['run', '--silent', 'build:native'])
    }
    // Without the wasm toolchain (no apt-get), or when nothing asked for WASM (npm test -- --quick),
    // the bundle is built from the modules there are, if any.
    if (needs.includes('wasm')) {
      if (ensureWasmModules({ install })) have.add('wasm')
    } else if (WASM_MODULES.some((out) => stale(out, WASM_INPUTS))) {
      console.warn('⚠ the WebAssembly modules are older than their sources; not rebuilt, as nothing here needs them')
    }
    if (stale('dist/index.mjs', ['src-ts', 'wasm', 'scripts/build-ts.mjs', 'tsconfig.json'])) buildTs({ requireWasm: false })
    have.add('js')
  }
  return have
}

if (import.meta.url === `file://${process.argv[1]}`) setup()
