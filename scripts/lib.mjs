// Shared helpers for the project scripts: running commands, staleness checks, logging.
// Plain Node (no dependencies), so it works before `npm install`.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = dirname(dirname(fileURLToPath(import.meta.url)))

// Rust from rustup lives in ~/.cargo/bin; make sure child processes find it.
const cargoBin = join(homedir(), '.cargo', 'bin')
if (!(process.env.PATH ?? '').split(':').includes(cargoBin)) {
  process.env.PATH = `${cargoBin}:${process.env.PATH ?? ''}`
}

/** Prints a step header. */
export function step(message) {
  console.log(`\n\x1b[1m▶ ${message}\x1b[0m`)
}

/** Runs a command (inheriting stdio); exits the process with its status on failure. */
export function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...options })
  if (result.error) {
    console.error(`failed to start ${cmd}: ${result.error.message}`)
    process.exit(1)
  }
  if (result.status !== 0) {
    console.error(`\n✖ ${cmd} ${args.join(' ')} exited with ${result.status ?? result.signal}`)
    process.exit(result.status ?? 1)
  }
}

/** Runs a command quietly; returns its trimmed stdout, or null when it fails. */
export function probe(cmd, args) {
  const result = spawnSync(cmd, args, { cwd: root, encoding: 'utf8' })
  return result.status === 0 ? result.stdout.trim() : null
}

/** Newest modification time (ms) of a file or of any file below a folder (0 if missing). */
export function newest(path) {
  if (!existsSync(path)) return 0
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  let latest = stat.mtimeMs
  for (const entry of readdirSync(path)) {
    if (entry === 'target' || entry === 'node_modules') continue
    latest = Math.max(latest, newest(join(path, entry)))
  }
  return latest
}

/** True when `output` is missing or older than any of `inputs` (paths relative to the root). */
export function stale(output, inputs) {
  const out = join(root, output)
  if (!existsSync(out)) return true
  const built = statSync(out).mtimeMs
  return inputs.some((input) => newest(join(root, input)) > built)
}
