// The API reference (`npm run docs:api`, TypeDoc with typedoc.json): it builds from the
// sources with every validation on and warnings as errors, so a public item without a doc
// comment, a broken {@link} or a public type that is not exported fails here (and in CI's lint
// job). The second test shows the configuration does catch a missing doc comment.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc')
const dirs: string[] = []
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tt-docs-'))
  dirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function runTypedoc(options: string, args: string[]) {
  const r = spawnSync(process.execPath, [typedoc, '--options', options, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

describe('API reference (TypeDoc)', () => {
  it('builds with treatWarningsAsErrors and every validation on: every public item is documented', () => {
    const config = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8'))
    expect(config.treatWarningsAsErrors).toBe(true)
    expect(config.validation).toMatchObject({ notDocumented: true, notExported: true, invalidLink: true })
    const out = tempDir()
    const { status, output } = runTypedoc(join(root, 'typedoc.json'), ['--out', out])
    expect(output).not.toMatch(/warning|error/i)
    expect(status, output).toBe(0)
    const classPage = join(out, 'classes', 'index.TemporalTensorCompressor.html')
    expect(existsSync(classPage), `no ${classPage}`).toBe(true)
    const page = readFileSync(classPage, 'utf8')
    for (const member of ['pushManyAsync', 'flushAsync', 'peek', 'free']) expect(page).toContain(member)
    expect(existsSync(join(out, 'functions', 'browser.init.html'))).toBe(true)
  })

  it('fails on an exported item without a doc comment', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'entry.ts'), '/** Documented. */\nexport const documented = 1\nexport function undocumented(): number {\n  return 2\n}\n')
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', strict: true }, files: ['entry.ts'] }),
    )
    // The project's options (validation, warnings as errors) on this file alone.
    writeFileSync(
      join(dir, 'typedoc.json'),
      JSON.stringify({ extends: [join(root, 'typedoc.json')], entryPoints: ['entry.ts'], tsconfig: 'tsconfig.json', out: 'out' }),
    )
    const { status, output } = runTypedoc(join(dir, 'typedoc.json'), [])
    expect(status).not.toBe(0)
    expect(output).toMatch(/undocumented.*does not have any documentation/)
  })
})
