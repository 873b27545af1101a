/**
 * Hardening figures: runs the hostile-input and fault tests (real browsers, real faults) and
 * keeps what they measured: inputs tried, memory before and after, recovery times, repairs.
 */
import { spawnSync } from 'node:child_process';

export interface HardeningResult {
  passed: boolean;
  /** Each test's own diagnostic lines: what it tried and measured. */
  figures: { figure: string }[];
  /** Tests that failed, with their first error line. */
  failures: string[];
}

const FILES = ['test/e2e/faults.test.ts', 'test/e2e/fuzz.test.ts', 'test/e2e/impaired.test.ts', 'test/integration/crowd.test.ts', 'test/e2e/relay.test.ts'];

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
  const lines = run.stdout.split('\n');
  const failures = lines.flatMap((line, i) => {
    const m = /^\s*not ok \d+ - (.+)$/.exec(line);
    if (!m || /subtests? failed/.test(lines.slice(i, i + 6).join(' '))) return [];
    const block = lines.slice(i + 1, i + 30);
    const start = block.findIndex((l) => /^\s*error: /.test(l));
    const end = block.findIndex((l, j) => j > start && /^\s*(code|stack|failureType|location|name|expected|actual|operator):/.test(l));
    const error = start < 0 ? '' : block.slice(start, end < 0 ? start + 4 : end).map((l) => l.trim()).join(' ');
    return [`${m[1]}: ${error}`];
  });
  return { passed: run.status === 0, figures, failures };
}
