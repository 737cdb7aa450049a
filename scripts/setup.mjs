// Installs and builds whatever this checkout lacks, and nothing more: npm dependencies, the
// Debian packages of the WebAssembly toolchain (rustc-web, cargo-web, rust-web-src, binaryen),
// Chromium for the browser test, the aarch64 cross toolchain with qemu-user for the NEON
// tests, Redis and PostgreSQL for the store's backend tests (servers started by the tests), cbindgen (crates.io) for the C header check, then the native addon, the .wasm and the
// TypeScript bundle when their sources changed. Quick when everything is present.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { buildTs } from './build-ts.mjs'
import { buildWasm } from './build-wasm.mjs'
import { ensureCbindgen } from './c-abi.mjs'
import { probe, root, run, stale, step } from './lib.mjs'

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

/** True when a PostgreSQL server's programs are installed (Debian: /usr/lib/postgresql/<version>/bin). */
const hasPostgresServer = () =>
  existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').some((v) => existsSync(join('/usr/lib/postgresql', v, 'bin', 'initdb')))

/** Debian packages, each with a file (or a check) that shows it is installed. */
const DEBIAN = [
  ['rustc-web', '/usr/bin/rustc'],
  ['cargo-web', '/usr/bin/cargo'],
  ['rust-web-src', '/usr/lib/rustlib/src/rust/library'],
  ['binaryen', '/usr/bin/wasm-opt'],
  ['chromium', '/usr/bin/chromium'],
  ['gcc-aarch64-linux-gnu', '/usr/bin/aarch64-linux-gnu-gcc'],
  ['libc6-dev-arm64-cross', '/usr/aarch64-linux-gnu/include/stdio.h'],
  ['qemu-user-static', '/usr/bin/qemu-aarch64-static'],
  ['redis-server', '/usr/bin/redis-server'],
  ['redis-tools', '/usr/bin/redis-cli'],
  ['postgresql', hasPostgresServer],
]

export function ensureDebianPackages(names = DEBIAN.map(([n]) => n)) {
  const present = (check) => (typeof check === 'function' ? check() : existsSync(check))
  const missing = DEBIAN.filter(([name, check]) => names.includes(name) && !present(check)).map(([n]) => n)
  if (missing.length === 0) return
  step(`Installing Debian packages: ${missing.join(' ')}`)
  if (probe('apt-get', ['--version']) === null) {
    console.error(`apt-get is not available; install ${missing.join(', ')} by other means.`)
    process.exit(1)
  }
  const sudo = process.getuid?.() === 0 ? [] : ['sudo']
  const apt = (args) => (sudo.length ? run('sudo', ['apt-get', ...args]) : run('apt-get', args))
  apt(['update', '-q'])
  apt(['install', '-y', '-q', '--no-install-recommends', ...missing])
}

export function setup({ full = true } = {}) {
  ensureNodeModules()
  ensureRust()
  ensureDebianPackages(full ? undefined : ['rustc-web', 'cargo-web', 'rust-web-src', 'binaryen'])
  if (full) ensureCbindgen()
  const suffix = 'linux-x64-gnu'
  if (process.platform === 'linux' && process.arch === 'x64') {
    if (stale(`native/temporal-tensor.${suffix}.node`, ['crates', 'Cargo.toml', 'Cargo.lock'])) {
      step('Building the native addon')
      run('npm', ['run', '--silent', 'build:native'])
    }
  }
  const wasmInputs = ['crates/ruvector-temporal-tensor', 'crates/ruvector-temporal-tensor-wasm', 'Cargo.toml', 'scripts/build-wasm.mjs']
  if (['wasm/temporal_tensor.wasm', 'wasm/temporal_tensor_simd.wasm'].some((out) => stale(out, wasmInputs))) {
    buildWasm()
  }
  if (stale('dist/index.mjs', ['src-ts', 'wasm', 'scripts/build-ts.mjs', 'tsconfig.json'])) {
    buildTs()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) setup()
