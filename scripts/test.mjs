// Runs every test file with node's own test runner (TypeScript through tsx). The unit tests
// (no browser, no server process) run two files at a time; the integration and end-to-end ones
// one file at a time: they drive real browsers and server processes, and a 2-core machine has no
// room for two. `node scripts/test.mjs unit` (or integration, e2e) runs one layer.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Test files at once, per layer (one unless named here). */
const CONCURRENCY = { unit: 2 };

const layers = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];
const filesOf = (layer) =>
  readdirSync(join('test', layer), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join('test', layer, f));
// Consecutive layers that share a concurrency run in one go (one summary for them).
const runs = [];
for (const layer of layers) {
  const concurrency = CONCURRENCY[layer] ?? 1;
  const files = filesOf(layer);
  if (runs.at(-1)?.concurrency === concurrency) runs.at(-1).files.push(...files);
  else runs.push({ concurrency, files });
}
if (runs.every((r) => r.files.length === 0)) {
  console.error('no test files found');
  process.exit(1);
}
let status = 0;
for (const { concurrency, files } of runs) {
  if (files.length === 0) continue;
  const result = spawnSync(
    process.execPath,
    [
      '--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec',
      // A handle a test leaked (a native WebRTC sink, a socket) must not hold CI past its end.
      '--test-force-exit', '--test-timeout=300000',
      ...files,
    ],
    { stdio: 'inherit' },
  );
  if (status === 0) status = result.status ?? 1;
}
process.exit(status);
