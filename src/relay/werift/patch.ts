/**
 * How lancast changes werift: each change is a WeriftPatch that names what it replaces, and the
 * installer refuses to start when werift (its version, or the shape of a replaced function) is not
 * what the patch was written for, so an upgrade cannot silently undo a fix.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The werift every patch was written against (package.json pins it). */
export const WERIFT_VERSION = '0.24.4';

// Replaced functions are werift's own, of many shapes: the registry holds them untyped.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFunction = (this: any, ...args: any[]) => any;

/** A function a patch replaces, and what it relies on in werift's version of it. */
export interface PatchTarget {
  /** How errors name it, e.g. `Connection.prototype.connect`. */
  name: string;
  owner: object;
  key: string;
  /** werift's declared parameter count (`Function.length`). */
  arity: number;
  /** Fragments of werift's source the replacement copies or relies on. */
  source?: RegExp[];
}

export interface WeriftPatch {
  name: string;
  /** One line: what werift does wrong. */
  wrong: string;
  /** The report or change offered upstream (docs/upstream/…). */
  upstream: string;
  targets: PatchTarget[];
  /** Anything else that must hold (say, which copy of a dependency werift uses); a problem, or undefined. */
  precondition?: () => string | undefined;
  /** Puts the replacements in place (through replaceMethod). */
  apply(): void;
}

/** What differs between this werift and the one the patches were written for; empty when none. */
export function checkWerift(version: string, patches: readonly WeriftPatch[], expected = WERIFT_VERSION): string[] {
  const problems: string[] = [];
  if (version !== expected) problems.push(`werift ${version} is installed, the patches were written for ${expected}: check each patch against it, then change WERIFT_VERSION`);
  for (const patch of patches) {
    const say = (what: string) => problems.push(`patch "${patch.name}": ${what} (${patch.upstream})`);
    for (const t of patch.targets) {
      const fn = (t.owner as Record<string, unknown>)[t.key];
      if (fn === undefined) say(`${t.name} is missing`);
      else if (typeof fn !== 'function') say(`${t.name} is a ${typeof fn}, not a function`);
      else {
        if (fn.length !== t.arity) say(`${t.name} takes ${fn.length} parameters, not ${t.arity}`);
        const source = fn.toString();
        for (const re of t.source ?? []) if (!re.test(source)) say(`${t.name} no longer contains ${re}`);
      }
    }
    const other = patch.precondition?.();
    if (other) say(other);
  }
  return problems;
}

/** A replacement in place: for tests (the method werift runs must be lancast's) and for diagnostics. */
export interface Replacement {
  patch: string;
  target: string;
  owner: object;
  key: string;
  original: AnyFunction;
  replacement: AnyFunction;
}

export const replacements: Replacement[] = [];

/** Replaces `owner[key]` with `make(werift's function)` and records it for `patch`. */
export function replaceMethod<F extends AnyFunction>(patch: string, target: PatchTarget, make: (original: F) => F): void {
  const owner = target.owner as Record<string, F>;
  const original = owner[target.key];
  const replacement = make(original);
  owner[target.key] = replacement;
  replacements.push({ patch, target: target.name, owner: target.owner, key: target.key, original, replacement });
}

/** The `package.json` of `pkg` as Node resolves it from the file `from`. */
function packageRoot(pkg: string, from: string): { dir: string; json: { name?: string; version?: string; exports?: Record<string, unknown> } } {
  let dir = dirname(createRequire(from).resolve(pkg));
  for (;;) {
    try {
      const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (json.name === pkg) return { dir, json };
    } catch {
      // not here: look further up
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of ${pkg} above ${from}`);
    dir = dirname(dir);
  }
}

/** The werift lancast loads (not a copy that some other package may carry). */
export function weriftEntry(): string {
  return createRequire(import.meta.url).resolve('werift');
}

export function weriftVersion(): string {
  return packageRoot('werift', import.meta.url).json.version ?? 'unknown';
}

/**
 * The file `import '<pkg><subpath>'` loads (package exports, `import` condition) when written in
 * the file `from`: tells whether werift and lancast load the same copy of a dependency.
 */
export function resolveImport(pkg: string, subpath: string, from: string): string {
  const { dir, json } = packageRoot(pkg, from);
  const entry = json.exports?.[`.${subpath}`] as string | { import?: string; default?: string } | undefined;
  const file = typeof entry === 'string' ? entry : entry?.import ?? entry?.default;
  if (!file) throw new Error(`${pkg} exports no .${subpath}`);
  return join(dir, file);
}
