// Builds dist/: the server (one ESM file, dependencies left external) and the browser bundles.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { build } from 'esbuild';

await rm('dist', { recursive: true, force: true });
await mkdir('dist/web', { recursive: true });
await Promise.all([
  build({
    entryPoints: ['src/cli.ts'],
    outfile: 'dist/cli.js',
    bundle: true,
    platform: 'node',
    format: 'esm',
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
