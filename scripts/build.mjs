// Builds dist/: the server (one ESM file, dependencies left external) and the browser bundles.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

/**
 * The native forwarding path (native/fanout.c) is compiled here, from source, against the
 * running Node's own headers and OpenSSL; nothing is downloaded. Without a C compiler or the
 * headers, lancast still works: it forwards through the TypeScript path (slower), and says so.
 */
function buildNative() {
  const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')]
    .filter(Boolean)
    .map((d) => join(d, 'include', 'node'));
  const include = candidates.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'openssl', 'evp.h')));
  const cc = process.env.CC || 'cc';
  if (!include) {
    console.warn('lancast build: no Node headers with OpenSSL found; the relay will use its TypeScript forwarding path');
    return;
  }
  const compile = (source, output, extra = []) =>
    execFileSync(cc, ['-O2', '-shared', '-fPIC', '-Wall', '-Wno-deprecated-declarations', `-I${include}`, '-o', output, source, ...extra], { stdio: ['ignore', 'inherit', 'inherit'] });
  try {
    compile('native/fanout.c', 'dist/native/lancast.node');
  } catch (err) {
    console.warn(`lancast build: the native forwarding path did not compile (${err.message.split('\n')[0]}); the relay will use its TypeScript path`);
  }
  // The load benchmark's receiving end (bench/relay/subscribers.ts); not used by the server.
  try {
    compile('native/loadsink.c', 'dist/native/loadsink.node', ['-pthread']);
  } catch (err) {
    console.warn(`lancast build: the benchmark's native load sink did not compile (${err.message.split('\n')[0]}); the load benchmark will count in JavaScript`);
  }
}


await rm('dist', { recursive: true, force: true });
await mkdir('dist/web', { recursive: true });
await mkdir('dist/native', { recursive: true });
buildNative();
await Promise.all([
  build({
    entryPoints: { cli: 'src/cli.ts', 'relay-worker': 'src/relay/relay-worker.ts' },
    outdir: 'dist',
    bundle: true,
    platform: 'node',
    format: 'esm',
    // cli.js loads the server lazily (src/start.ts), so --help answers without loading werift.
    splitting: true,
    chunkNames: '[name]-[hash]', // beside cli.js: paths from import.meta.url stay the same
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  }),
  build({
    entryPoints: {
      lobby: 'src/web/lobby-page.ts',
      broadcast: 'src/web/broadcast-page.ts',
      watch: 'src/web/watch-page.ts',
    },
    outdir: 'dist/web',
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  }),
  copyFile('src/web/style.css', 'dist/web/style.css'),
]);
