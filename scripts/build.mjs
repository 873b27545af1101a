// Builds dist/: the server (one ESM file, dependencies left external) and the browser bundles.
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

/**
 * zod re-exports all ~40 of its message locales; esbuild cannot drop them from a namespace
 * re-export, and the browser needs none (the pages show their own sentences). Serve only the
 * English one, which zod installs by default: the bundle shrinks by about half.
 */
const zodOneLocale = {
  name: 'zod-one-locale',
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${'node_modules'}/zod/`) ? { path: 'zod-locales', namespace: 'lancast' } : undefined,
    );
    b.onLoad({ filter: /^zod-locales$/, namespace: 'lancast' }, () => ({
      contents: `export { default as en } from ${JSON.stringify(fileURLToPath(new URL('../node_modules/zod/v4/locales/en.js', import.meta.url)))};`,
      resolveDir: '.',
    }));
  },
};

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
    plugins: [zodOneLocale],
    minify: true,
    sourcemap: 'linked',
    logLevel: 'warning',
  }),
  copyFile('src/web/style.css', 'dist/web/style.css'),
]);
