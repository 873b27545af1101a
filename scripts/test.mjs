// Runs every test file with node's own test runner (TypeScript through tsx), one file at a
// time: the end-to-end tests drive real browsers and a 2-core machine has no room for two.
// `node scripts/test.mjs unit` (or integration, e2e) runs one layer.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const layers = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];
const files = layers.flatMap((layer) =>
  readdirSync(join('test', layer), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join('test', layer, f)),
);
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  [
    '--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec',
    // A handle a test leaked (a native WebRTC sink, a socket) must not hold CI past its end.
    '--test-force-exit', '--test-timeout=300000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
