#!/usr/bin/env node
// The platform packages (npm/<suffix>, one per napi target) and the root package's
// `optionalDependencies` on them.
//
// In the repository, package.json lists them as `file:npm/<suffix>` links: npm records a link in
// package-lock.json without fetching anything, so `npm ci` installs a clean clone (and the link
// of this platform's package only: the others' os/cpu/libc do not match, and an optional
// dependency that does not match is skipped). Version ranges could not be used there: the
// packages are published only by the release workflow, npm drops an optional dependency it
// cannot fetch from the lockfile, and `npm ci` then refuses the lockfile as out of sync. At
// release, `napi pre-publish` replaces the links by the version every platform package is
// published at; `--check` (run by the workflow after it) checks what it wrote, so a manifest
// still holding a link is never published.
//
// Usage:
//   node scripts/platform-deps.mjs           print the optionalDependencies to publish (JSON)
//   node scripts/platform-deps.mjs --check   exit 1 unless package.json's optionalDependencies
//                                            on platform packages are exactly those (release)
//   node scripts/platform-deps.mjs --repo    print the repository's `file:npm/<suffix>` links
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const defaultRoot = fileURLToPath(new URL('..', import.meta.url))

/**
 * The `optionalDependencies` the published root package must carry: every npm/<suffix>
 * platform package by name, at its version. Throws when a platform package's name does not
 * start with `${napi.packageName}-` or its version is not the root's.
 * @param {string} root directory of the repository
 * @returns {Record<string, string>}
 */
export function expectedOptionalDependencies(root = defaultRoot) {
  const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'))
  const out = {}
  const dirs = readdirSync(`${root}/npm`, { withFileTypes: true }).filter((d) => d.isDirectory())
  for (const dir of dirs.map((d) => d.name).sort()) {
    const p = JSON.parse(readFileSync(`${root}/npm/${dir}/package.json`, 'utf8'))
    if (p.name !== `${pkg.napi.packageName}-${dir}`) throw new Error(`npm/${dir}: name ${p.name}, expected ${pkg.napi.packageName}-${dir}`)
    if (p.version !== pkg.version) throw new Error(`npm/${dir}: version ${p.version}, root is ${pkg.version}`)
    out[p.name] = p.version
  }
  return out
}

/**
 * The `optionalDependencies` package.json holds in the repository: every platform package as a
 * `file:npm/<suffix>` link (see the header for why).
 * @param {string} root directory of the repository
 * @returns {Record<string, string>}
 */
export function repoOptionalDependencies(root = defaultRoot) {
  const prefix = `${JSON.parse(readFileSync(`${root}/package.json`, 'utf8')).napi.packageName}-`
  return Object.fromEntries(Object.keys(expectedOptionalDependencies(root)).map((name) => [name, `file:npm/${name.slice(prefix.length)}`]))
}

/**
 * Problems of `pkg.optionalDependencies` against `expected` (only entries naming a platform
 * package count; others are the package's own business). Empty when they match exactly.
 * @param {{ optionalDependencies?: Record<string, string>, napi: { packageName: string } }} pkg
 * @param {Record<string, string>} expected
 * @returns {string[]}
 */
export function optionalDependencyProblems(pkg, expected) {
  const prefix = `${pkg.napi.packageName}-`
  const listed = Object.entries(pkg.optionalDependencies ?? {}).filter(([name]) => name.startsWith(prefix))
  const problems = []
  for (const [name, version] of listed) {
    if (!(name in expected)) problems.push(`${name} is not a platform package`)
    else if (version !== expected[name]) problems.push(`${name}@${version}, expected ${expected[name]}`)
  }
  for (const name of Object.keys(expected)) if (!listed.some(([n]) => n === name)) problems.push(`${name} is missing`)
  return problems
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const expected = expectedOptionalDependencies()
  if (process.argv.includes('--check')) {
    const pkg = JSON.parse(readFileSync(`${defaultRoot}/package.json`, 'utf8'))
    const problems = optionalDependencyProblems(pkg, expected)
    for (const p of problems) console.error(`optionalDependencies: ${p}`)
    if (problems.length > 0) process.exit(1)
    console.log(`optionalDependencies: ${Object.keys(expected).length} platform packages at ${pkg.version}`)
  } else if (process.argv.includes('--repo')) {
    console.log(JSON.stringify(repoOptionalDependencies(), null, 2))
  } else {
    console.log(JSON.stringify(expected, null, 2))
  }
}
