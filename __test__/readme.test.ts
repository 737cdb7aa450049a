// README.md's code: every ```ts and ```js block type-checks (tsc, strict) against the built
// package as a consumer sees it (`import ... from '@ruvector/temporal-tensor'`), and every block not
// marked `<!-- readme-test: types only (why) -->` on the line before its fence also runs in Node.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))

/** One fenced block: its language, the README line of its opening fence, code, and whether it runs. */
interface Block {
  lang: 'ts' | 'js'
  line: number
  code: string
  run: boolean
  browser: boolean
}

/** The ```ts and ```js blocks of a Markdown text. */
function codeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n')
  const blocks: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)/.exec(lines[i])
    if (!open) continue
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'))
    if (end < 0) throw new Error(`README.md:${i + 1}: unclosed code fence`)
    const lang = open[1]
    if (lang === 'ts' || lang === 'js') {
      const code = lines.slice(i + 1, end).join('\n') + '\n'
      blocks.push({
        lang,
        line: i + 1,
        code,
        run: !/^<!-- readme-test: types only\b/.test(lines[i - 1] ?? ''),
        // Browser code: it imports a browser entry by path, or its marker says it runs in one.
        browser: code.includes(`'${pkg.name}/browser'`) || /^<!-- readme-test: types only \(runs in a browser/.test(lines[i - 1] ?? ''),
      })
    }
    i = end
  }
  return blocks
}

const blocks = codeBlocks(readFileSync(join(root, 'README.md'), 'utf8'))
const dir = mkdtempSync(join(tmpdir(), 'tt-readme-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A consumer project in `dir`: this package installed under its name (a symlink to the checkout). */
function consumer() {
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-consumer', private: true, type: 'module' }))
  const scope = join(dir, 'node_modules', ...pkg.name.split('/').slice(0, -1))
  mkdirSync(scope, { recursive: true })
  symlinkSync(root, join(dir, 'node_modules', pkg.name), 'dir')
}

const fileOf = (b: Block) => `readme-line-${b.line}.${b.lang === 'ts' ? 'mts' : 'mjs'}`

/**
 * tsc, strict, over `files` with `lib`, resolving as Node does (`nodenext`) or as a bundled app
 * does (`bundler`); emits .mjs into out/. Returns its exit status and output.
 */
function typeCheck(name: string, files: string[], lib: string[], types: string[], resolution: 'nodenext' | 'bundler') {
  const modules = resolution === 'bundler' ? { module: 'preserve', moduleResolution: 'bundler' } : { module: 'NodeNext', moduleResolution: 'NodeNext' }
  const config = {
    compilerOptions: {
      target: 'ES2022', ...modules, lib, types,
      typeRoots: [join(root, 'node_modules', '@types')],
      strict: true, allowJs: true, checkJs: true, skipLibCheck: true, outDir: 'out',
    },
    files,
  }
  writeFileSync(join(dir, `tsconfig.${name}.json`), JSON.stringify(config, null, 2))
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', `tsconfig.${name}.json`], { cwd: dir, encoding: 'utf8' })
  return { code: r.status, out: r.stdout + r.stderr }
}

describe('README.md code blocks', () => {
  it('has the blocks this test is about (quick start, browser, store)', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(4)
    expect(blocks.filter((b) => b.run).length).toBeGreaterThanOrEqual(2)
    expect(blocks.some((b) => b.browser)).toBe(true)
  })

  it('every ts/js block type-checks (strict) as its own module against the package', () => {
    consumer()
    for (const b of blocks) writeFileSync(join(dir, fileOf(b)), b.code)
    // Node blocks without the DOM library (so `frames` cannot silently mean `window.frames`),
    // browser blocks with it, without Node's types, resolved as a bundler (Vite's template) does.
    const node = typeCheck('node', blocks.filter((b) => !b.browser).map(fileOf), ['ES2022'], ['node'], 'nodenext')
    expect(node.code, node.out).toBe(0)
    const browser = typeCheck('browser', blocks.filter((b) => b.browser).map(fileOf), ['ES2022', 'DOM'], [], 'bundler')
    expect(browser.code, browser.out).toBe(0)
  })

  for (const b of blocks.filter((x) => x.run)) {
    it(`the block at README.md:${b.line} runs in Node`, () => {
      const r = spawnSync(process.execPath, [join('out', fileOf(b).replace(/\.mts$/, '.mjs'))], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
      expect(r.status, r.stderr).toBe(0)
    })
  }
})
