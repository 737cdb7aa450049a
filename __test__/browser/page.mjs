// Browser test page for @ruvector/temporal-tensor (served from the package root, see
// __test__/browser.test.ts). Publishes the outcome as `window.__result`.
import * as api from '/dist/browser.mjs';
import { TENSOR_LEN, TIERS, runAll, corruptCodes, compressTier, webStreamRun } from './stream.mjs';

// Count the Workers the library starts (its async calls run in one).
let workersStarted = 0;
const PlatformWorker = globalThis.Worker;
globalThis.Worker = class extends PlatformWorker {
  constructor(...args) {
    super(...args);
    workersStarted++;
  }
};

const { init, TemporalTensorCompressor, TemporalTensorError } = api;

async function run() {
  // 1. Using the API before init() must fail with NOT_INITIALIZED.
  let notInitializedCode = null;
  try {
    new TemporalTensorCompressor({ tensorLen: TENSOR_LEN });
    notInitializedCode = '(no error thrown)';
  } catch (e) {
    notInitializedCode = e instanceof TemporalTensorError ? e.code : `non-TemporalTensorError: ${String(e)}`;
  }

  // 2. Load the wasm (fetched relative to dist/browser.mjs).
  await init();

  // 3. Compress the deterministic stream at every tier, decode everything.
  const { segmentsHex, bits, decodedFrames, decodedChecksum } = runAll(api);

  // 4. Corrupt input must be rejected with a stable code.
  const good = compressTier(api, TIERS[0])[0];
  const corrupt = corruptCodes(api, good);

  // 5. The Web TransformStreams and the async calls (in the library's Worker).
  const web = await webStreamRun(api);

  return {
    ok: true,
    backend: api.backend,
    kernels: api.kernels,
    notInitializedCode,
    segmentsHex,
    bits,
    decodedFrames,
    decodedChecksum,
    corruptCode: corrupt.badMagic,
    truncatedCode: corrupt.truncated,
    web,
    workersStarted,
  };
}

const status = document.getElementById('status');
run().then(
  (result) => {
    window.__result = result;
    if (status) status.textContent = 'ok';
  },
  (e) => {
    window.__result = {
      ok: false,
      error: `${e?.name ?? 'Error'}${e?.code ? ` [${e.code}]` : ''}: ${e?.message ?? String(e)}\n${e?.stack ?? ''}`,
    };
    if (status) status.textContent = `failed: ${window.__result.error}`;
  },
);
