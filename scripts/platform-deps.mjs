#!/usr/bin/env node
// The platform packages (npm/<suffix>, one per napi target) and the root package's
// `optionalDependencies` on them.
//
// Why package.json in the repository does not list them: they are published only by the
// release workflow, and npm cannot record an optional dependency it cannot fetch. `npm install`
// drops such a dependency from package-lock.json without a word, and `npm ci` then refuses to
// run ("package.json and package-lock.json are not in sync"), so a clean clone could not
// install. The release workflow's `napi pre-publish` writes the list into package.json right
// before `npm publish`; `--check` (run by the workflow after it) checks what it wrote.
//
// Usage:
//   node scripts/platform-deps.mjs           print the expected optionalDependencies (JSON)
//   node scripts/platform-deps.mjs --check   exit 1 unless package.json's optionalDependencies
//                                            on platform packages are exactly the expected ones
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
  } else {
    console.log(JSON.stringify(expected, null, 2))
  }
}
