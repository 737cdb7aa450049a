// The C ABI: its generated header and the C example.
//
// `node scripts/c-abi.mjs`          checks that crates/ruvector-temporal-tensor/include/
//                                   temporal_tensor.h is what cbindgen generates now, builds
//                                   libtemporal_tensor.a, compiles examples/c/roundtrip.c with the
//                                   system `cc` and runs it (round trip, then decoding every golden
//                                   vector, both packed layouts included, bit for bit);
// `node scripts/c-abi.mjs --write`  regenerates the header.
//
// The header is cbindgen's output (settings in the core's cbindgen.toml; cbindgen parses the
// crate, so it follows ffi.rs however it is split into modules) plus the TTC_* status codes,
// generated from the core's error table (tests/vectors/error_codes.json, which the core's tests
// pin to Error::CODES).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { probe, root, run, step } from './lib.mjs'

/** The cbindgen release the checked-in header was generated with. */
export const CBINDGEN_VERSION = '0.29.4'

const core = join(root, 'crates', 'ruvector-temporal-tensor')
export const headerPath = join(core, 'include', 'temporal_tensor.h')
const vectors = join(core, 'tests', 'vectors')

/** Installs cbindgen from crates.io when it is missing or another release. */
export function ensureCbindgen() {
  if (probe('cbindgen', ['--version']) === `cbindgen ${CBINDGEN_VERSION}`) return
  step(`Installing cbindgen ${CBINDGEN_VERSION} (cargo install)`)
  run('cargo', ['install', '--locked', '--force', `cbindgen@${CBINDGEN_VERSION}`])
}

/** `#define TTC_<CODE> (<status>)` for every status code, from the core's error table. */
function statusDefines() {
  const codes = JSON.parse(readFileSync(join(vectors, 'error_codes.json'), 'utf8'))
  const lines = [
    '/* Status codes: every ttc_* function returns TTC_OK or one of these (Error::status in the',
    ' * core; the names are Error::code, the `code` of the JavaScript and Python errors). */',
    '#define TTC_OK 0',
    ...Object.entries(codes).map(([code, status]) => `#define TTC_${code} (${status})`),
  ]
  return lines.join('\n')
}

/** The header as it should be, generated now. */
export function generateHeader() {
  const dir = mkdtempSync(join(tmpdir(), 'ttc-header-'))
  try {
    const out = join(dir, 'temporal_tensor.h')
    run('cbindgen', ['--quiet', '--config', 'cbindgen.toml', '--crate', 'ruvector-temporal-tensor', '--output', out], {
      cwd: core,
    })
    const text = readFileSync(out, 'utf8')
    const marker = '/* TTC_STATUS_CODES */'
    if (!text.includes(marker)) throw new Error(`cbindgen output lacks the ${marker} marker`)
    return text.replace(marker, statusDefines())
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Fails (exit 1) when the checked-in header differs from a fresh generation. */
export function checkHeader() {
  const fresh = generateHeader()
  let current = ''
  try {
    current = readFileSync(headerPath, 'utf8')
  } catch {}
  if (fresh !== current) {
    console.error(
      `${headerPath} is out of date with src/ffi.rs: run \`node scripts/c-abi.mjs --write\` and commit it.`,
    )
    process.exit(1)
  }
  console.log('temporal_tensor.h matches a fresh cbindgen run')
}

/** Builds the static library, compiles the example with `cc`, runs it on every golden vector. */
export function runExample() {
  run('cargo', ['build', '--quiet', '-p', 'ruvector-temporal-tensor-c'])
  const dir = mkdtempSync(join(tmpdir(), 'ttc-c-'))
  try {
    const exe = join(dir, 'roundtrip')
    const cc = process.env.CC ?? 'cc'
    run(cc, [
      '-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic',
      '-I', join(core, 'include'),
      join(root, 'examples', 'c', 'roundtrip.c'),
      join(root, 'target', 'debug', 'libtemporal_tensor.a'),
      '-lpthread', '-ldl', '-lm', '-o', exe,
    ])
    run(exe, [])
    for (const sub of ['.', 'padded', 'coded-v3']) {
      const manifest = JSON.parse(readFileSync(join(vectors, sub, 'manifest.json'), 'utf8'))
      for (const c of manifest.cases) {
        run(exe, [join(vectors, sub, c.tqtc), join(vectors, sub, c.decoded)])
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  ensureCbindgen()
  if (process.argv.includes('--write')) {
    writeFileSync(headerPath, generateHeader())
    console.log(`wrote ${headerPath}`)
  } else {
    checkHeader()
    runExample()
  }
}
