// The GitHub workflows and the npm/<suffix> platform packages, checked against package.json's
// napi config: every target is built with the right flags on the right runner, tested, and
// published from a package whose os/cpu/libc/main match its binary; and the lock file every
// install (`npm ci`) starts from is in sync with package.json.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import YAML from 'yaml'

const root = new URL('..', import.meta.url)
const read = (path: string) => readFileSync(new URL(path, root), 'utf8')

type Row = Record<string, unknown>
interface Step {
  name?: string
  uses?: string
  run?: string
  if?: string
  id?: string
  with?: Record<string, unknown>
  env?: Record<string, unknown>
}
interface Job {
  name?: string
  'runs-on'?: string
  uses?: string
  needs?: string | string[]
  container?: string | { image: string }
  permissions?: Record<string, string>
  env?: Record<string, unknown>
  strategy?: { matrix?: Record<string, unknown> }
  steps?: Step[]
}
interface Workflow {
  on: Record<string, unknown>
  env?: Record<string, unknown>
  jobs: Record<string, Job>
}

const pkg = JSON.parse(read('package.json'))
const targets: string[] = pkg.napi.targets
const binaryName: string = pkg.napi.binaryName
const ci: Workflow = YAML.parse(read('.github/workflows/ci.yml'))
const release: Workflow = YAML.parse(read('.github/workflows/release.yml'))

/** napi-rs's platformArchABI for a Rust target triple (only the shapes this package uses). */
function suffixOf(triple: string): { suffix: string; os: string; cpu: string; libc?: string } {
  const [arch, , sys, abi] = triple.split('-')
  const cpu = ({ x86_64: 'x64', aarch64: 'arm64' } as Record<string, string>)[arch]
  if (!cpu) throw new Error(`unexpected arch in ${triple}`)
  if (sys === 'darwin') return { suffix: `darwin-${cpu}`, os: 'darwin', cpu }
  if (sys === 'windows' && abi === 'msvc') return { suffix: `win32-${cpu}-msvc`, os: 'win32', cpu }
  if (sys === 'linux' && (abi === 'gnu' || abi === 'musl')) {
    return { suffix: `linux-${cpu}-${abi}`, os: 'linux', cpu, libc: abi === 'gnu' ? 'glibc' : 'musl' }
  }
  throw new Error(`unexpected target ${triple}`)
}

/** The rows a job's matrix expands to (cartesian product of the axes, plus `include`). */
function rows(job: Job): Row[] {
  const matrix = job.strategy?.matrix
  if (!matrix) return [{}]
  const { include, exclude, ...axes } = matrix as { include?: Row[]; exclude?: Row[] } & Record<string, unknown[]>
  if (exclude !== undefined) throw new Error('matrix.exclude is not supported by these checks')
  let product: Row[] = Object.keys(axes).length ? [{}] : []
  for (const [key, values] of Object.entries(axes)) {
    product = product.flatMap((row) => values.map((value) => ({ ...row, [key]: value })))
  }
  return [...product, ...(include ?? [])]
}

/** Substitutes `${{ matrix.x }}` (missing keys become '', as in GitHub Actions). */
function expand(text: unknown, row: Row): string {
  return String(text ?? '').replace(/\$\{\{\s*matrix\.([\w-]+)\s*\}\}/g, (_, key) => String(row[key] ?? ''))
}

const stepsOf = (job: Job): Step[] => job.steps ?? []
/** A build for `target` runs on a runner of its OS: macOS, Windows, else Ubuntu. */
function expectHostFor(host: string, target: string) {
  if (target.includes('apple-darwin')) expect(host, target).toMatch(/^macos-/)
  else if (target.includes('windows')) expect(host, target).toMatch(/^windows-/)
  else expect(host, target).toMatch(/^ubuntu-/)
}
const runOf = (job: Job): string => stepsOf(job).map((s) => s.run ?? '').join('\n')
const usesAction = (step: Step, action: string) => (step.uses ?? '').split('@')[0] === action
const indexOf = (job: Job, pred: (s: Step) => boolean) => stepsOf(job).findIndex(pred)
const needsOf = (job: Job) => (job.needs === undefined ? [] : ([] as string[]).concat(job.needs))

/** The ci jobs that build the addon: those uploading `bindings-*` (there must be one). */
const buildJobs = Object.entries(ci.jobs).filter(([, job]) =>
  stepsOf(job).some((s) => usesAction(s, 'actions/upload-artifact') && String(s.with?.name).startsWith('bindings-')),
)
const [buildId, buildJob] = buildJobs[0] ?? ['', { steps: [] } as Job]
/** The napi build steps of the build job (there must be one). */
const buildSteps = stepsOf(buildJob).filter((s) => /napi build|build:native/.test(s.run ?? ''))

describe('workflow structure', () => {
  for (const [file, wf] of [['ci.yml', ci], ['release.yml', release]] as const) {
    it(`${file}: every job has runs-on or uses, steps only with runs-on, needs that exist`, () => {
      expect(Object.keys(wf.jobs).length).toBeGreaterThan(0)
      for (const [id, job] of Object.entries(wf.jobs)) {
        expect(Boolean(job['runs-on']) !== Boolean(job.uses), `${file} job ${id}: exactly one of runs-on/uses`).toBe(true)
        if (job['runs-on']) expect(stepsOf(job).length, `${file} job ${id} has steps`).toBeGreaterThan(0)
        for (const need of needsOf(job)) expect(Object.keys(wf.jobs), `${file} job ${id} needs ${need}`).toContain(need)
      }
    })

    it(`${file}: every action is pinned to a ref, and steps either use or run`, () => {
      for (const [id, job] of Object.entries(wf.jobs)) {
        for (const step of stepsOf(job)) {
          expect(Boolean(step.uses) !== Boolean(step.run), `${file} job ${id}: ${JSON.stringify(step)}`).toBe(true)
          if (step.uses && !step.uses.startsWith('./')) expect(step.uses).toMatch(/^[\w.-]+\/[\w./-]+@\S+$/)
        }
      }
    })
  }

  it('ci.yml runs on pushes, pull requests and as a reusable workflow', () => {
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['push', 'pull_request', 'workflow_call']))
  })

  it('lint runs rustfmt, clippy with -D warnings, and tsc', () => {
    const run = runOf(ci.jobs.lint)
    expect(run).toMatch(/cargo fmt\b.*--check/)
    expect(run).toMatch(/cargo clippy .*--all-targets .*--all-features .*-- -D warnings/)
    expect(run).toContain('npx tsc --noEmit -p tsconfig.json')
  })

  it('rust-test runs the whole workspace with all features', () => {
    expect(runOf(ci.jobs['rust-test'])).toContain('cargo test --workspace --all-features')
  })
})

describe('native build matrix', () => {
  const job = buildJob
  const matrixRows = rows(job)
  const step = buildSteps[0] ?? {}

  it('is one job with one napi build step', () => {
    expect(buildJobs).toHaveLength(1)
    expect(buildSteps).toHaveLength(1)
  })

  it('covers exactly the napi targets of package.json, once each', () => {
    const built = matrixRows.map((row) => row.target)
    expect(new Set(built).size).toBe(built.length)
    expect([...built].sort()).toEqual([...targets].sort())
  })

  it('uses the package.json napi config and passes --target', () => {
    expect(step.run).toMatch(/npm run build:native --|napi build .*--package-json-path package\.json/)
    expect(pkg.scripts['build:native']).toMatch(/^napi build --platform --release .*--output-dir native/)
    for (const row of matrixRows) {
      expect(expand(step.run, row)).toMatch(new RegExp(`--target ${row.target}(\\s|$)`))
    }
  })

  it('runs each target on a matching host', () => {
    for (const row of matrixRows) expectHostFor(expand(job['runs-on'], row), String(row.target))
  })

  it('windows rows link the C runtime statically (RUSTFLAGS +crt-static)', () => {
    const windows = matrixRows.filter((row) => String(row.target).includes('windows'))
    expect(windows.length).toBeGreaterThan(0)
    for (const row of matrixRows) {
      const rustflags = expand({ ...job.env, ...step.env }.RUSTFLAGS, row)
      if (String(row.target).includes('windows')) expect(rustflags, String(row.target)).toContain('target-feature=+crt-static')
      else expect(rustflags, String(row.target)).not.toContain('crt-static')
    }
  })

  it('linux gnu rows build with --use-napi-cross (old glibc), musl rows with -x (zig)', () => {
    for (const row of matrixRows) {
      const args = expand(step.run, row).split(/\s+/)
      const target = String(row.target)
      expect(args.includes('--use-napi-cross'), target).toBe(target.endsWith('-linux-gnu'))
      expect(args.includes('-x') || args.includes('--cross-compile'), target).toBe(target.endsWith('-linux-musl'))
    }
  })

  it('installs zig and cargo-zigbuild before the build (for the musl rows)', () => {
    const zig = indexOf(job, (s) => usesAction(s, 'mlugg/setup-zig'))
    const zigbuild = indexOf(job, (s) => usesAction(s, 'taiki-e/install-action') && s.with?.tool === 'cargo-zigbuild')
    const build = stepsOf(job).indexOf(step)
    expect(zig).toBeGreaterThanOrEqual(0)
    expect(zigbuild).toBeGreaterThanOrEqual(0)
    expect(Math.max(zig, zigbuild)).toBeLessThan(build)
    for (const i of [zig, zigbuild]) {
      const cond = stepsOf(job)[i].if
      if (cond !== undefined) expect(cond).toContain('musl')
    }
  })

  it('installs the rust target of each row', () => {
    const toolchain = stepsOf(job).find((s) => usesAction(s, 'dtolnay/rust-toolchain'))
    for (const row of matrixRows) expect(expand(toolchain?.with?.targets, row)).toContain(String(row.target))
  })

  it('uploads native/<binaryName>.*.node as bindings-<target>', () => {
    const upload = stepsOf(job).find((s) => usesAction(s, 'actions/upload-artifact'))!
    expect(upload.with?.name).toBe('bindings-${{ matrix.target }}')
    expect(upload.with?.path).toBe(`native/${binaryName}.*.node`)
    expect(upload.with?.['if-no-files-found']).toBe('error')
  })
})

describe('wasm build', () => {
  const job = ci.jobs.wasm
  const run = runOf(job)
  const script = read('scripts/build-wasm.mjs')
  const toolchain = read('scripts/toolchain.mjs')

  it('builds through scripts/build-wasm.mjs with rustup\'s wasm32 std, not a copy of its recipe', () => {
    const build = indexOf(job, (s) => /^npm run build:wasm\b/.test(s.run ?? ''))
    expect(build).toBeGreaterThan(indexOf(job, (s) => /^npm ci\b/.test(s.run ?? '')))
    expect(run).not.toMatch(/cargo build|wasm-opt /)
    const rust = stepsOf(job).find((s) => usesAction(s, 'dtolnay/rust-toolchain'))
    expect(String(rust?.with?.targets)).toContain('wasm32-unknown-unknown')
    // With rustup's wasm32 std the recipe is plain cargo; rustc-web and -Zbuild-std otherwise.
    expect(toolchain).toMatch(/if \(rustupHasTarget\(WASM_TARGET\)\) \{\s*return \{ cmd: 'cargo'/)
    expect(toolchain).toContain("'--profile', 'wasm', '--target', WASM_TARGET, '-p', 'ruvector-temporal-tensor-wasm'")
  })

  it('both modules go through wasm-opt -Oz, the SIMD one built with simd128', () => {
    const call = script.slice(script.indexOf("run('wasm-opt'"))
    expect(call).toContain("'-Oz'")
    expect(script).toContain("'--enable-simd'")
    expect(script).toContain('target-feature=+simd128')
    expect(script).toContain("'temporal_tensor.wasm'")
    expect(script).toContain("'temporal_tensor_simd.wasm'")
  })

  it('fails when a module reaches 100 KB, and uploads both as `wasm`', () => {
    expect(run).toMatch(/npm run build:wasm -- --enforce-budget/)
    expect(script).toContain('export const WASM_BUDGET_BYTES = 100 * 1024')
    expect(script).toMatch(/size >= WASM_BUDGET_BYTES/)
    const upload = stepsOf(job).find((s) => usesAction(s, 'actions/upload-artifact'))!
    expect(upload.with).toMatchObject({ name: 'wasm', path: 'wasm/temporal_tensor*.wasm' })
    expect(indexOf(job, (s) => s.run === 'npm run build:ts')).toBeGreaterThan(indexOf(job, (s) => /build:wasm/.test(s.run ?? '')))
  })
})

describe('test jobs', () => {
  /** Every (job, matrix row) that downloads a bindings-* artifact, with the target it names. */
  const testRuns = Object.entries(ci.jobs).flatMap(([id, job]) =>
    stepsOf(job).some((s) => usesAction(s, 'actions/download-artifact') && String(s.with?.name).startsWith('bindings-'))
      ? rows(job).map((row) => {
          const download = stepsOf(job).find(
            (s) => usesAction(s, 'actions/download-artifact') && String(s.with?.name).startsWith('bindings-'),
          )!
          return { id, job, row, target: expand(download.with?.name, row).replace(/^bindings-/, '') }
        })
      : [],
  )

  it('every built binary is tested', () => {
    expect(new Set(testRuns.map((r) => r.target))).toEqual(new Set(targets))
  })

  it('test jobs need the build and wasm jobs, and put the artifacts where the loader looks', () => {
    for (const { id, job } of testRuns) {
      expect(needsOf(job), id).toEqual(expect.arrayContaining([buildId, 'wasm']))
      const downloads = stepsOf(job).filter((s) => usesAction(s, 'actions/download-artifact'))
      expect(downloads.find((s) => String(s.with?.name).startsWith('bindings-'))?.with?.path, id).toBe('native')
      expect(downloads.find((s) => s.with?.name === 'wasm')?.with?.path, id).toBe('wasm')
    }
  })

  it('vitest runs after npm ci and build:ts, with the downloads in place', () => {
    for (const { id, job } of testRuns) {
      const vitest = indexOf(job, (s) => /npx vitest run/.test(s.run ?? ''))
      expect(vitest, id).toBeGreaterThanOrEqual(0)
      const before = [
        indexOf(job, (s) => /^npm ci\b/.test(s.run ?? '')),
        indexOf(job, (s) => s.run === 'npm run build:ts'),
        indexOf(job, (s) => usesAction(s, 'actions/download-artifact') && s.with?.name === 'wasm'),
      ]
      for (const i of before) {
        expect(i, id).toBeGreaterThanOrEqual(0)
        expect(i, id).toBeLessThan(vitest)
      }
    }
  })

  it('each binary runs on its own OS and CPU (musl in Alpine, arm64 on an arm runner)', () => {
    for (const { id, job, row, target } of testRuns) {
      const host = expand(job['runs-on'], row)
      const container = expand(typeof job.container === 'object' ? job.container.image : job.container, row)
      if (target.endsWith('-linux-musl')) expect(container, id).toMatch(/^node:\d+-alpine/)
      else expect(container, id).toBe('')
      if (target.startsWith('aarch64-unknown-linux')) expect(host, id).toMatch(/^ubuntu-.*-arm$/)
      else if (target.includes('linux')) expect(host, id).toMatch(/^ubuntu-(latest|\d+\.\d+)$/)
      if (target === 'x86_64-apple-darwin') expect(host, id).toMatch(/^macos-.*intel$|^macos-13$/)
      if (target === 'aarch64-apple-darwin') expect(host, id).toMatch(/^macos-(latest|1[4-9]|2\d)$/)
      if (target.includes('windows')) expect(host, id).toMatch(/^windows-/)
    }
  })

  it('covers Node 18, 20 and 22; vitest (Node >= 20) is skipped on 18', () => {
    const nodes = new Set(
      testRuns.map(({ job, row }) => {
        const setup = stepsOf(job).find((s) => usesAction(s, 'actions/setup-node'))
        const image = typeof job.container === 'object' ? job.container.image : job.container
        return Number(expand(setup?.with?.['node-version'] ?? image?.match(/node:(\S+?)-/)?.[1], row))
      }),
    )
    for (const v of [18, 20, 22]) expect(nodes).toContain(v)
    for (const { id, job, row } of testRuns) {
      if (Number(row.node) !== 18) continue
      const vitest = stepsOf(job).find((s) => /npx vitest run/.test(s.run ?? ''))!
      expect(vitest.if, id).toMatch(/matrix\.node != 18/)
    }
  })

  it('the browser job hands the Chrome of setup-chrome to the browser test', () => {
    const job = ci.jobs.browser
    const chrome = stepsOf(job).find((s) => usesAction(s, 'browser-actions/setup-chrome'))
    expect(chrome?.id).toBeTruthy()
    const vitest = stepsOf(job).find((s) => /npx vitest run/.test(s.run ?? ''))
    expect(vitest?.env?.CHROMIUM_PATH).toBe(`\${{ steps.${chrome?.id}.outputs.chrome-path }}`)
    expect(read('__test__/browser/harness.ts')).toContain('process.env.CHROMIUM_PATH')
  })
})

describe('release workflow', () => {
  const publishEntry = Object.entries(release.jobs).find(([, job]) => /npm publish/.test(runOf(job)))
  const [publishId, publish] = publishEntry ?? ['', {} as Job]
  const run = runOf(publish)

  it('runs on v* tags and on demand', () => {
    expect((release.on.push as { tags: string[] }).tags).toContain('v*')
    expect(release.on).toHaveProperty('workflow_dispatch')
  })

  it('builds everything before publishing (the CI workflow, or its own build matrix)', () => {
    expect(publishId).not.toBe('')
    const upstream = needsOf(publish).map((id) => release.jobs[id])
    const reusesCi = upstream.some((job) => job.uses === './.github/workflows/ci.yml')
    if (reusesCi) {
      expect(ci.on).toHaveProperty('workflow_call')
    } else {
      const built = upstream.flatMap((job) => rows(job).map((row) => row.target)).filter(Boolean)
      expect([...new Set(built)].sort()).toEqual([...targets].sort())
    }
  })

  it('the publish job may mint an OIDC token (provenance) and write contents', () => {
    expect(publish.permissions).toMatchObject({ 'id-token': 'write', contents: 'write' })
  })

  it('publishes the platform packages from the artifacts, then the main package', () => {
    const order = [
      indexOf(publish, (s) => /napi create-npm-dirs/.test(s.run ?? '')),
      indexOf(publish, (s) => usesAction(s, 'actions/download-artifact') && s.with?.path === 'artifacts'),
      indexOf(publish, (s) => /napi artifacts --output-dir artifacts --npm-dir npm/.test(s.run ?? '')),
      indexOf(publish, (s) => s.run === 'npm run build:ts'),
      indexOf(publish, (s) => /napi pre-publish -t npm --no-gh-release/.test(s.run ?? '')),
      indexOf(publish, (s) => /npm publish --access public --provenance/.test(s.run ?? '')),
    ]
    for (const i of order) expect(i).toBeGreaterThanOrEqual(0)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
    const wasm = indexOf(publish, (s) => usesAction(s, 'actions/download-artifact') && s.with?.name === 'wasm')
    expect(wasm).toBeGreaterThanOrEqual(0)
    expect(wasm).toBeLessThan(order[3])
  })

  it('checks the optionalDependencies pre-publish wrote (when it writes them) before the main package is published', () => {
    const prePublish = indexOf(publish, (s) => /napi pre-publish/.test(s.run ?? ''))
    const check = indexOf(publish, (s) => s.run === 'node scripts/platform-deps.mjs --check')
    const npmPublish = indexOf(publish, (s) => /npm publish --access public/.test(s.run ?? ''))
    expect(prePublish).toBeGreaterThanOrEqual(0)
    expect(check).toBeGreaterThan(prePublish)
    expect(check).toBeLessThan(npmPublish)
    // --dry-run leaves package.json as it is, so the check runs only for a real publish.
    expect(stepsOf(publish)[check].if).toBe("env.DRY_RUN == ''")
  })

  it('authenticates npm with the NPM_TOKEN secret and skips prepack on the root publish', () => {
    for (const step of stepsOf(publish).filter((s) => /npm publish|napi pre-publish/.test(s.run ?? ''))) {
      expect({ ...publish.env, ...step.env }.NODE_AUTH_TOKEN).toBe('${{ secrets.NPM_TOKEN }}')
    }
    // prepack would rebuild the wasm with the local Debian toolchain, which CI does not have.
    expect(pkg.scripts.prepack).toBeDefined()
    expect(run).toMatch(/npm publish [^\n]*--ignore-scripts/)
    const setupNode = stepsOf(publish).find((s) => usesAction(s, 'actions/setup-node'))
    expect(setupNode?.with?.['registry-url']).toBe('https://registry.npmjs.org')
  })
})

/** The license texts every npm package ships, one per SPDX id of package.json's `license`. */
const LICENSE_FILES = ['LICENSE-MIT', 'LICENSE-APACHE']

/** The paths `npm pack` would put in the tarball of the package in `dir` (no scripts run). */
function packedFiles(dir: string): string[] {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return JSON.parse(out)[0].files.map((f: { path: string }) => f.path)
}

describe('license files', () => {
  it('package.json says MIT OR Apache-2.0, and the two texts say so too', () => {
    expect(pkg.license).toBe('MIT OR Apache-2.0')
    expect(read('LICENSE-MIT')).toMatch(/^MIT License\n\nCopyright \(c\) /)
    expect(read('LICENSE-MIT')).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND')
    expect(read('LICENSE-APACHE')).toMatch(/^\s+Apache License\n\s+Version 2\.0, January 2004\n/)
    expect(read('LICENSE-APACHE')).toContain('END OF TERMS AND CONDITIONS')
  })

  it('the root package lists them in files, and npm pack puts them in the tarball', () => {
    expect(pkg.files).toEqual(expect.arrayContaining(LICENSE_FILES))
    expect(packedFiles(fileURLToPath(root))).toEqual(expect.arrayContaining(LICENSE_FILES))
  })
})

describe('npm/<suffix> platform packages', () => {
  const expected = targets.map(suffixOf)
  const npmDir = new URL('npm/', root)

  it('one directory per napi target, no others', () => {
    const dirs = readdirSync(npmDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)
    expect(dirs.sort()).toEqual(expected.map((e) => e.suffix).sort())
  })

  for (const { suffix, os, cpu, libc } of expected) {
    it(`${suffix}: name, os, cpu, libc, main and metadata match`, () => {
      const p = JSON.parse(readFileSync(new URL(`${suffix}/package.json`, npmDir), 'utf8'))
      const file = `${binaryName}.${suffix}.node`
      expect(p.name).toBe(`${pkg.napi.packageName}-${suffix}`)
      expect(p.version).toBe(pkg.version)
      expect(p.os).toEqual([os])
      expect(p.cpu).toEqual([cpu])
      if (libc) expect(p.libc).toEqual([libc])
      else expect(p).not.toHaveProperty('libc')
      expect(p.main).toBe(file)
      expect(p.files).toEqual([file, ...LICENSE_FILES])
      expect(p.license).toBe(pkg.license)
      expect(p.engines).toEqual(pkg.engines)
      expect(p.repository).toEqual(pkg.repository)
      expect(p.description).toEqual(pkg.description)
      expect(existsSync(new URL(`${suffix}/README.md`, npmDir))).toBe(true)
    })

    it(`${suffix}: ships the root's license texts, unchanged`, () => {
      for (const name of LICENSE_FILES) expect(read(`npm/${suffix}/${name}`), name).toBe(read(name))
      expect(packedFiles(fileURLToPath(new URL(suffix, npmDir)))).toEqual(expect.arrayContaining(LICENSE_FILES))
    })
  }

  it('are the optionalDependencies the release publishes, at the root version (scripts/platform-deps.mjs)', async () => {
    // @ts-expect-error: plain ESM script without types
    const { expectedOptionalDependencies, optionalDependencyProblems } = await import('../scripts/platform-deps.mjs')
    const want: Record<string, string> = expectedOptionalDependencies(fileURLToPath(root))
    expect(want).toEqual(Object.fromEntries(expected.map((e) => [`${pkg.napi.packageName}-${e.suffix}`, pkg.version])))
    const complete = { ...pkg, optionalDependencies: { other: '1.0.0', ...want } }
    expect(optionalDependencyProblems(complete, want)).toEqual([])
    const [first] = Object.keys(want)
    expect(optionalDependencyProblems({ ...complete, optionalDependencies: { ...want, [first]: '0.0.1' } }, want)).toEqual([`${first}@0.0.1, expected ${pkg.version}`])
    expect(optionalDependencyProblems({ ...complete, optionalDependencies: { ...want, [`${pkg.napi.packageName}-sparc`]: pkg.version } }, want)).toHaveLength(1)
  })

  it('are listed in package.json as file:npm/<suffix> links, recorded as links in the lockfile (npm ci needs no registry for them)', async () => {
    // Version ranges could not be: npm drops an optional dependency it cannot fetch from the
    // lockfile and `npm ci` then refuses it; `napi pre-publish` writes the versions at release,
    // and the workflow's `platform-deps.mjs --check` refuses a manifest still holding a link.
    // @ts-expect-error: plain ESM script without types
    const { repoOptionalDependencies, optionalDependencyProblems, expectedOptionalDependencies } = await import('../scripts/platform-deps.mjs')
    const links: Record<string, string> = repoOptionalDependencies(fileURLToPath(root))
    expect(links).toEqual(Object.fromEntries(expected.map((e) => [`${pkg.napi.packageName}-${e.suffix}`, `file:npm/${e.suffix}`])))
    const prefix = `${pkg.napi.packageName}-`
    const listed = Object.fromEntries(Object.entries(pkg.optionalDependencies ?? {}).filter(([n]) => n.startsWith(prefix)))
    expect(listed).toEqual(links)
    expect(optionalDependencyProblems(pkg, expectedOptionalDependencies(fileURLToPath(root))), 'a link must never pass the release check').toHaveLength(expected.length)
    const lock = JSON.parse(read('package-lock.json'))
    expect(lock.packages[''].optionalDependencies).toEqual(links)
    for (const e of expected) {
      expect(lock.packages[`node_modules/${prefix}${e.suffix}`], e.suffix).toEqual({ resolved: `npm/${e.suffix}`, link: true })
      expect(lock.packages[`npm/${e.suffix}`]?.name, e.suffix).toBe(`${prefix}${e.suffix}`)
    }
  })

  it('the Node loader looks for the same file names and package names', () => {
    const loader = read('src-ts/load-node.ts')
    expect(loader).toContain(`'native', \`${binaryName}.\${suffix}.node\``)
    expect(loader).toContain(`\`${pkg.napi.packageName}-\${suffix}\``)
  })
})

describe('python wheel job', () => {
  const job = ci.jobs['python-wheel']
  const matrixRows = rows(job ?? {})
  const build = stepsOf(job ?? {}).find((s) => usesAction(s, 'PyO3/maturin-action'))
  const pyproject = read('crates/ruvector-temporal-tensor-py/pyproject.toml')
  const cargo = read('crates/ruvector-temporal-tensor-py/Cargo.toml')

  it('builds an abi3 wheel with maturin for exactly the napi targets', () => {
    expect(job).toBeDefined()
    expect(matrixRows.map((row) => row.target).sort()).toEqual([...targets].sort())
    expect(String(build?.with?.target)).toBe('${{ matrix.target }}')
    expect(String(build?.with?.args)).toContain('--manifest-path crates/ruvector-temporal-tensor-py/Cargo.toml')
    expect(String(build?.with?.args)).toContain('--release')
    expect(cargo).toMatch(/features = \["abi3-py\d+"\]/)
    expect(pyproject).toContain('build-backend = "maturin"')
    for (const row of matrixRows) {
      const target = String(row.target)
      expectHostFor(expand(job['runs-on'], row), target)
      if (target.endsWith('-linux-musl')) expect(row.manylinux, target).toMatch(/^musllinux/)
    }
  })

  it('installs the wheel in a fresh venv and runs pytest where the runner can run it', () => {
    const tested = matrixRows.filter((row) => row.test === true).map((row) => row.target)
    expect(tested).toEqual(
      expect.arrayContaining(['x86_64-unknown-linux-gnu', 'aarch64-apple-darwin', 'x86_64-pc-windows-msvc']),
    )
    const test = stepsOf(job).find((s) => /pytest/.test(s.run ?? ''))
    expect(test?.if).toBe('matrix.test')
    expect(test?.run).toMatch(/-m venv/)
    expect(test?.run).toMatch(/pip install [^\n]*wheels\/\*\.whl/)
    expect(indexOf(job, (s) => s === build)).toBeLessThan(indexOf(job, (s) => s === test))
  })

  it('uploads wheel-<target>', () => {
    const upload = stepsOf(job).find((s) => usesAction(s, 'actions/upload-artifact'))
    expect(upload?.with).toMatchObject({ name: 'wheel-${{ matrix.target }}', path: 'wheels/*.whl', 'if-no-files-found': 'error' })
  })
})

describe('npm ci (how CI and scripts/setup.mjs install)', () => {
  it('accepts package-lock.json: it is in sync with package.json (a dependency npm could not resolve leaves it out)', () => {
    const r = spawnSync('npm', ['ci', '--dry-run', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: fileURLToPath(root),
      encoding: 'utf8',
      timeout: 120_000,
    })
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stderr).not.toMatch(/EUSAGE|Missing: /)
  })
})
