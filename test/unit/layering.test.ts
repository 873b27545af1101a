/**
 * The relay owns media, the hub owns the wire: src/relay imports nothing from src/signaling, and
 * src/signaling reaches the relay only through its API (src/relay/api.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/** Every module specifier a file names: static imports and exports, type-only ones included, and dynamic imports. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found = [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)];
  return found.map((m) => m[1]);
}

function crossings(from: string, to: string, allowed: string[] = []): string[] {
  const out: string[] = [];
  for (const name of readdirSync(SRC + from, { recursive: true }).map(String)) {
    if (!name.endsWith('.ts')) continue;
    for (const spec of importsOf(`${SRC}${from}/${name}`)) {
      if (!spec.startsWith('.')) continue; // a package or node: module
      const target = new URL(spec, `file://${SRC}${from}/${name}`).pathname;
      if (target.startsWith(`${SRC}${to}/`) && !allowed.includes(target.slice(SRC.length))) out.push(`${from}/${name} -> ${spec}`);
    }
  }
  return out;
}

test('the import scanner sees every form of import', () => {
  const text = ["import a from './a.js';", "import type { B } from '../b.js';", "export { c } from './c.js';", "import './d.js';", "const e = await import('./e.js');", 'import {\n  f,\n} from "./f.js";'];
  const dir = mkdtempSync(join(tmpdir(), 'lancast-layering-'));
  try {
    writeFileSync(join(dir, 'sample.ts'), text.join('\n'));
    assert.deepEqual(importsOf(join(dir, 'sample.ts')).sort(), ['../b.js', './a.js', './c.js', './d.js', './e.js', './f.js']);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('src/relay imports nothing from src/signaling', () => {
  assert.deepEqual(crossings('relay', 'signaling'), []);
});

test('src/signaling reaches the relay only through src/relay/api.ts', () => {
  assert.deepEqual(crossings('signaling', 'relay', ['relay/api.ts', 'relay/api.js']), []);
});
