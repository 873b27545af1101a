/**
 * Hardening figures: runs the hostile-input and fault tests (real browsers, real faults) and
 * keeps what they measured: inputs tried, memory before and after, recovery times, repairs.
 */
import { spawnSync } from 'node:child_process';

export interface HardeningResult {
  passed: boolean;
  /** Each test's own diagnostic lines: what it tried and measured. */
  figures: { figure: string }[];
}

const FILES = ['test/e2e/fuzz.test.ts', 'test/e2e/faults.test.ts', 'test/e2e/impaired.test.ts', 'test/integration/crowd.test.ts', 'test/e2e/relay.test.ts'];

export function hardening(): HardeningResult {
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...FILES], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const figures = run.stdout
    .split('\n')
    .map((line) => /^\s*# (.+)$/.exec(line)?.[1])
    .filter((d): d is string => d !== undefined && !/^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(d) && !d.startsWith('Subtest: '))
    .map((figure) => ({ figure }));
  return { passed: run.status === 0, figures };
}
