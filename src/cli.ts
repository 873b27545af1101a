#!/usr/bin/env node
/** `lancast`: flags -> config; `--help` and `--version` answer at once, anything else starts the server. */
import { createRequire } from 'node:module';
import { ConfigError, helpText, parseConfig } from './config.js';

const require = createRequire(import.meta.url);
const { version } = require('../package.json') as { version: string };

async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`lancast: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if ('help' in parsed) return void process.stdout.write(`${helpText(version)}\n`);
  if ('version' in parsed) return void process.stdout.write(`${version}\n`);
  const { run } = await import('./start.js');
  await run(parsed.config, version);
}

main().catch((err) => {
  process.stderr.write(`lancast: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
