// Runs the browser build (dist/browser.mjs + dist/temporal_tensor.wasm) in headless Chromium
// and checks it produces byte-identical segments to the Node build for the same stream.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
// @ts-ignore -- plain ESM build output
import * as nodeApi from '../dist/index.mjs';
// @ts-ignore -- plain ESM helper shared with the page
import { TIERS, WEB_STREAM, runAll, corruptCodes, compressTier, webStreamRun } from './browser/stream.mjs';
import { launchChromium, startServer, stopServer } from './browser/harness';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const TIMEOUT = 60_000;

/** GET with the request target sent verbatim (no URL normalisation); resolves the status. */
function rawStatus(base: string, target: string): Promise<number> {
  const { hostname, port } = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ host: hostname, port: Number(port), path: target, method: 'GET', agent: false }, (res) => {
      res.resume();
      res.on('end', () => ok(res.statusCode ?? 0));
    });
    req.on('error', fail);
    req.end();
  });
}

interface PageResult {
  ok: boolean;
  error?: string;
  backend?: string;
  kernels?: string;
  notInitializedCode?: string;
  segmentsHex?: Record<string, string[]>;
  bits?: Record<string, number[]>;
  decodedFrames?: Record<string, number>;
  decodedChecksum?: string;
  corruptCode?: string;
  truncatedCode?: string;
  web?: {
    segmentsHex: string[];
    decodedFrames: number;
    decodedChecksum: string;
    asyncSegmentsHex: string[];
    asyncDecodedChecksum: string;
  };
  workersStarted?: number;
}

describe('browser build in headless Chromium', () => {
  let server: Server | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let base = '';
  const diagnostics: string[] = [];
  let result: PageResult;

  beforeAll(async () => {
    if (!existsSync(resolve(ROOT, 'dist/browser.mjs')) || !existsSync(resolve(ROOT, 'dist/temporal_tensor.wasm'))) {
      throw new Error('dist/browser.mjs or dist/temporal_tensor.wasm is missing: run `node scripts/setup.mjs` first');
    }
    server = await startServer(ROOT);
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium(TIMEOUT);
    page = await browser.newPage();
    page.on('console', (m) => diagnostics.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => diagnostics.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => diagnostics.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
    page.on('response', (r) => {
      if (r.status() >= 400) diagnostics.push(`HTTP ${r.status()}: ${r.url()}`);
    });
    await page.goto(`${base}/__test__/browser/page.html`, { timeout: TIMEOUT });
    try {
      await page.waitForFunction(() => (window as any).__result !== undefined, null, { timeout: TIMEOUT });
    } catch (e) {
      throw new Error(`the page never set window.__result (${String(e)})\n${diagnostics.join('\n')}`);
    }
    result = (await page.evaluate(() => (window as any).__result)) as PageResult;
  }, TIMEOUT * 3);

  afterAll(async () => {
    await page?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stopServer(server);
  }, TIMEOUT);

  it('runs to completion on the wasm backend', () => {
    expect(result.ok, `${result.error ?? ''}\n${diagnostics.join('\n')}`).toBe(true);
    expect(result.error).toBeUndefined();
    expect(result.backend).toBe('wasm');
    // Chromium supports simd128, so init() picked the SIMD module.
    expect(result.kernels).toBe('simd128');
  }, TIMEOUT);

  it('throws NOT_INITIALIZED before init()', () => {
    expect(result.notInitializedCode).toBe('NOT_INITIALIZED');
  }, TIMEOUT);

  it('produces segments byte-identical to the Node build, at every tier', () => {
    const expected = runAll(nodeApi);
    expect(Object.keys(result.segmentsHex ?? {}).sort()).toEqual(TIERS.map((t: { name: string }) => t.name).sort());
    for (const tier of TIERS as { name: string }[]) {
      const got = result.segmentsHex![tier.name]!;
      const want = expected.segmentsHex[tier.name] as string[];
      expect(want.length, `${tier.name}: node produced no segments`).toBeGreaterThan(0);
      expect(got.length, `${tier.name}: segment count`).toBe(want.length);
      for (let i = 0; i < want.length; i++) {
        // Compare lengths first so a mismatch doesn't dump tens of KB of hex.
        expect(got[i]!.length, `${tier.name} segment ${i} length`).toBe(want[i]!.length);
        expect(got[i] === want[i], `${tier.name} segment ${i} bytes differ from node (${nodeApi.backend})`).toBe(true);
      }
    }
    // The tiers really are different tiers.
    expect(result.bits).toEqual(expected.bits);
    expect(result.bits!.hot!.every((b) => b === 8)).toBe(true);
    expect(result.bits!.cold!.every((b) => b === 3)).toBe(true);
    expect(result.bits!.warm!.every((b) => b === 7 || b === 5)).toBe(true);
    // The coded format runs in the browser too, with the same bytes as in Node.
    expect(result.bits!['hot-coded']!.every((b) => b === 8)).toBe(true);
    expect(result.bits!['cold-coded']!.every((b) => b === 3)).toBe(true);
    expect(result.segmentsHex!['hot-coded']![0]!.slice(8, 10)).toBe('05') // version byte: coded segments are written as version 5;
    // Every frame round-trips, and the decoded values match the Node build exactly.
    expect(result.decodedFrames).toEqual(expected.decodedFrames);
    expect(Object.values(result.decodedFrames!).every((n) => n === 40)).toBe(true);
    expect(result.decodedChecksum).toBe(expected.decodedChecksum);
  }, TIMEOUT);

  it('TensorCompressionStream in the page gives the Node build\'s bytes; TensorDecompressionStream the same frames', async () => {
    const want = await webStreamRun(nodeApi);
    const got = result.web!;
    expect(want.segmentsHex.length).toBeGreaterThan(3);
    expect(got.segmentsHex.length).toBe(want.segmentsHex.length);
    for (let i = 0; i < want.segmentsHex.length; i++) {
      expect(got.segmentsHex[i] === want.segmentsHex[i], `web stream segment ${i} differs from node (${nodeApi.backend})`).toBe(true);
    }
    // The stream's segments are pushMany + flush's, in the page as in Node.
    expect(got.asyncSegmentsHex.join('')).toBe(got.segmentsHex.join(''));
    expect(got.decodedFrames).toBe(WEB_STREAM.frames);
    expect(got.decodedChecksum).toBe(want.decodedChecksum);
  }, TIMEOUT);

  it('async calls run in a Worker in the page, with the bytes of the synchronous calls', async () => {
    const want = await webStreamRun(nodeApi);
    expect(result.workersStarted).toBe(1);
    expect(result.web!.asyncSegmentsHex).toEqual(want.asyncSegmentsHex);
    expect(result.web!.asyncDecodedChecksum).toBe(want.asyncDecodedChecksum);
    expect(result.web!.asyncDecodedChecksum).toBe(result.web!.decodedChecksum);
  }, TIMEOUT);

  it('rejects corrupt segments with a stable code', () => {
    expect(['BAD_MAGIC', 'TRUNCATED']).toContain(result.corruptCode);
    expect(['BAD_MAGIC', 'TRUNCATED']).toContain(result.truncatedCode);
    const good = compressTier(nodeApi, TIERS[0])[0];
    const node = corruptCodes(nodeApi, good);
    expect(result.corruptCode).toBe(node.badMagic);
    expect(result.truncatedCode).toBe(node.truncated);
  }, TIMEOUT);

  it('serves only files under the package root, with the right MIME types', async () => {
    const wasm = await fetch(`${base}/dist/temporal_tensor.wasm`);
    expect(wasm.status).toBe(200);
    expect(wasm.headers.get('content-type')).toBe('application/wasm');
    const js = await fetch(`${base}/dist/browser.mjs`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    await js.arrayBuffer();
    await wasm.arrayBuffer();
    // fetch() normalises ".." and "%2e%2e" away, so send raw request targets with node:http.
    for (const target of ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/dist/..%2f..%2f..%2fetc/passwd']) {
      expect(await rawStatus(base, target), target).toBe(403);
    }
    expect(await rawStatus(base, '/no/such/file.txt')).toBe(404);
  }, TIMEOUT);
});
