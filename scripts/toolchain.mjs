// The Rust toolchain recipes every script shares, in one place (the why is in
// ../shared/spec/TOOLCHAIN.md): rustup's stable toolchain has the host's standard library only,
// so wasm32 and aarch64 builds use Debian's `rustc-web`, which accepts `-Z` flags with
// RUSTC_BOOTSTRAP=1 and ships the std source for `-Zbuild-std`. Where rustup does have a target's
// std (CI installs wasm32 with `dtolnay/rust-toolchain`), the plain toolchain is used instead.
//
// Also the Debian packages each recipe needs, each with a marker that shows it is installed (an
// absolute path that exists, or a command that runs); scripts/setup.mjs installs them.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { probe } from './lib.mjs'

/** rustc-web's compiler and cargo (Debian), nightly-capable with RUSTC_BOOTSTRAP=1. */
export const NIGHTLY_RUSTC = '/usr/bin/rustc'
export const NIGHTLY_CARGO = '/usr/bin/cargo'

/** Debian packages of the nightly-capable compiler and its std source. */
export const NIGHTLY_PACKAGES = [
  ['rustc-web', NIGHTLY_RUSTC],
  ['cargo-web', NIGHTLY_CARGO],
  ['rust-web-src', '/usr/lib/rustlib/src/rust/library'],
]

/** binaryen, for wasm-opt. */
export const WASM_OPT_PACKAGES = [['binaryen', 'wasm-opt']]

/** The cross linker, the arm64 C library and qemu-user, besides the nightly-capable compiler. */
export const AARCH64_PACKAGES = [
  ...NIGHTLY_PACKAGES,
  ['gcc-aarch64-linux-gnu', '/usr/bin/aarch64-linux-gnu-gcc'],
  ['libc6-dev-arm64-cross', '/usr/aarch64-linux-gnu/include/stdio.h'],
  ['qemu-user-static', '/usr/bin/qemu-aarch64-static'],
]

export const WASM_TARGET = 'wasm32-unknown-unknown'
export const AARCH64_TARGET = 'aarch64-unknown-linux-gnu'

/** Environment for cargo with the nightly-capable rustc (RUSTC=/usr/bin/rustc, RUSTC_BOOTSTRAP=1). */
export function nightlyEnv(extra = {}) {
  return { ...process.env, RUSTC: NIGHTLY_RUSTC, RUSTC_BOOTSTRAP: '1', ...extra }
}

/** The `-Zbuild-std=…` argument that builds these standard-library crates for the target. */
export function buildStd(...crates) {
  return `-Zbuild-std=${crates.join(',')}`
}

/** The host triple of rustup's rustc (x86_64-unknown-linux-gnu here), or null without rustc. */
export function hostTriple() {
  return /^host: (\S+)$/m.exec(probe('rustc', ['-vV']) ?? '')?.[1] ?? null
}

/** True when rustup's rustc has the standard library for `target` (no -Zbuild-std needed). */
export function rustupHasTarget(target) {
  const dir = probe('rustc', ['--print', 'target-libdir', '--target', target])
  return dir !== null && existsSync(dir) && readdirSync(dir).some((f) => f.startsWith('libcore-'))
}

/** Debian packages the wasm32 recipe needs here: binaryen, plus rustc-web unless rustup has wasm32. */
export function wasmPackages() {
  return rustupHasTarget(WASM_TARGET) ? WASM_OPT_PACKAGES : [...NIGHTLY_PACKAGES, ...WASM_OPT_PACKAGES]
}

/**
 * `cargo build` of the wasm crate for wasm32 into `targetDir` with extra `rustflags` (and cargo
 * `features` of the crate, e.g. `['kernel-check']`): returns `{ cmd, args, env }` for lib.mjs's
 * run(). rustup's toolchain when it has the wasm32 std, else rustc-web with `-Zbuild-std` linked
 * by rustup's rust-lld (separate target dirs keep the two compilers' artifacts apart).
 * `immediateAbort` (rustc-web only, where std is built anyway): the `immediate-abort` panic
 * strategy, a trap without formatting a message (the host sees the same trap; ≈ 8 KB smaller).
 */
export function wasmBuild({ targetDir, rustflags = '', features = [], immediateAbort = false }) {
  const args = ['build', '--profile', 'wasm', '--target', WASM_TARGET, '-p', 'ruvector-temporal-tensor-wasm', '--target-dir', targetDir]
  if (features.length > 0) args.push('--features', features.join(','))
  if (rustupHasTarget(WASM_TARGET)) {
    return { cmd: 'cargo', args, env: { ...process.env, RUSTFLAGS: rustflags } }
  }
  const lld = join(probe('rustc', ['--print', 'sysroot']) ?? '', 'lib', 'rustlib', hostTriple() ?? '', 'bin', 'rust-lld')
  return {
    cmd: NIGHTLY_CARGO,
    args: [...args, buildStd('std', 'panic_abort')],
    env: nightlyEnv({
      RUSTFLAGS: `-C linker=${lld} ${rustflags}${immediateAbort ? ' -Zunstable-options -Cpanic=immediate-abort' : ''}`.trim(),
    }),
  }
}

/**
 * `cargo test` of `testArgs` for aarch64 under qemu-user into `targetDir`: returns
 * `{ cmd, args, env }`. Cross-built by rustc-web with `-Zbuild-std` and linked by
 * aarch64-linux-gnu-gcc; cargo runs each test binary through qemu-aarch64-static.
 */
export function aarch64Test({ testArgs, targetDir }) {
  const t = AARCH64_TARGET
  return {
    cmd: NIGHTLY_CARGO,
    args: [
      'test', '--target', t, ...testArgs,
      buildStd('std', 'panic_abort', 'panic_unwind', 'test'),
      '--target-dir', targetDir,
      '--config', `target.${t}.linker="aarch64-linux-gnu-gcc"`,
      '--config', `target.${t}.runner="qemu-aarch64-static -L /usr/aarch64-linux-gnu"`,
    ],
    env: nightlyEnv(),
  }
}
