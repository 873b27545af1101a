/**
 * werift behind one adapter: installWeriftPatches() checks werift before changing it, and after it
 * every function a patch replaces is lancast's in the werift the relay loads (imported from
 * 'werift', as src/ does). The checker refuses a werift of another version or shape.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Connection, DtlsSocket, RTCDtlsTransport, RTCPeerConnection, RtpHeader } from 'werift';
import {
  checkWerift,
  installPatches,
  installWeriftPatches,
  replacements,
  srtpReceiveChanged,
  WERIFT_VERSION,
  WeriftMismatchError,
  weriftPatches,
  weriftVersion,
  type WeriftPatch,
} from '../../src/relay/werift/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

test('this werift is the one the patches were written for, and every patch fits it', () => {
  assert.equal(weriftVersion(), WERIFT_VERSION);
  assert.deepEqual(checkWerift(weriftVersion(), weriftPatches), []);
  // The relay's native reader repeats werift's steps after an SRTP decrypt (ingress-gate.ts).
  assert.equal(srtpReceiveChanged(), undefined);
});

test("after installing, every replaced werift function is lancast's", () => {
  const before = new Map(weriftPatches.flatMap((p) => p.targets.map((t) => [t.name, (t.owner as Record<string, unknown>)[t.key]] as const)));
  installWeriftPatches();
  installWeriftPatches(); // a second call changes nothing
  for (const patch of weriftPatches) {
    for (const target of patch.targets) {
      const mine = replacements.filter((r) => r.patch === patch.name && r.target === target.name);
      assert.equal(mine.length, 1, `patch "${patch.name}" replaced ${target.name} once`);
    }
  }
  for (const [target, original] of before) {
    const chain = replacements.filter((r) => r.target === target);
    const { owner, key } = chain[0];
    assert.equal(chain[0].original, original, `${target}: the first patch wrapped werift's own function`);
    assert.equal((owner as Record<string, unknown>)[key], chain.at(-1)!.replacement, `${target} is lancast's`);
    for (let i = 1; i < chain.length; i++) assert.equal(chain[i].original, chain[i - 1].replacement, `${target}: patches wrap one another`);
  }
  // Through werift's own exports, not the descriptors: the classes werift runs.
  const current = (target: string) => replacements.filter((r) => r.target === target).at(-1)?.replacement;
  assert.equal(Connection.prototype.connect, current('Connection.prototype.connect'));
  assert.equal((Connection.prototype as unknown as Record<string, unknown>).getCandidatePromises, current('Connection.prototype.getCandidatePromises'));
  assert.equal(RTCDtlsTransport.prototype.start, current('RTCDtlsTransport.prototype.start'));
  assert.equal(RTCPeerConnection.prototype.createAnswer, current('RTCPeerConnection.prototype.createAnswer'));
  assert.equal((DtlsSocket.prototype as unknown as Record<string, unknown>).handleFragmentHandshake, current('DtlsSocket.prototype.handleFragmentHandshake'));
  assert.equal(RtpHeader.deSerialize, current('RtpHeader.deSerialize'));
});

test('each patch says what werift does wrong and has its upstream report', () => {
  const names = new Set<string>();
  for (const patch of weriftPatches) {
    assert.ok(!names.has(patch.name), `one patch named ${patch.name}`);
    names.add(patch.name);
    assert.ok(patch.wrong.length > 20 && !patch.wrong.includes('\n'), `${patch.name}: one line on what werift does wrong`);
    assert.match(patch.upstream, /^docs\/upstream\/werift-[a-z0-9-]+\.md$/);
    const file = ROOT + patch.upstream;
    assert.ok(existsSync(file), `${patch.upstream} exists`);
    assert.match(readFileSync(file, 'utf8'), /^# werift: /, `${patch.upstream} is a report`);
  }
});

test('the checker refuses another werift version, naming both', () => {
  const problems = checkWerift('0.25.0', []);
  assert.equal(problems.length, 1);
  assert.match(problems[0], /werift 0\.25\.0 is installed, the patches were written for 0\.24\.4/);
});

test('the checker refuses a replaced function that is missing, not a function, of another arity or changed', () => {
  const fake = (owner: object, extra: Partial<WeriftPatch> = {}): WeriftPatch => ({
    name: 'fake-patch',
    wrong: 'werift does something wrong',
    upstream: 'docs/upstream/werift-fake.md',
    targets: [{ name: 'Thing.prototype.go', owner, key: 'go', arity: 1, source: [/this\.wanted\(\)/] }],
    apply() {},
    ...extra,
  });
  const check = (patch: WeriftPatch) => checkWerift(WERIFT_VERSION, [patch]);
  assert.deepEqual(check(fake({ go(_x: number) { return (this as unknown as { wanted(): void }).wanted(); } })), []);
  assert.deepEqual(check(fake({})), ['patch "fake-patch": Thing.prototype.go is missing (docs/upstream/werift-fake.md)']);
  assert.deepEqual(check(fake({ go: 42 })), ['patch "fake-patch": Thing.prototype.go is a number, not a function (docs/upstream/werift-fake.md)']);
  assert.deepEqual(check(fake({ go(_x: number, _y: number) { return (this as unknown as { wanted(): void }).wanted(); } })), [
    'patch "fake-patch": Thing.prototype.go takes 2 parameters, not 1 (docs/upstream/werift-fake.md)',
  ]);
  assert.deepEqual(check(fake({ go(_x: number) { return 1; } })), ['patch "fake-patch": Thing.prototype.go no longer contains /this\\.wanted\\(\\)/ (docs/upstream/werift-fake.md)']);
  assert.deepEqual(check(fake({ go(_x: number) { return (this as unknown as { wanted(): void }).wanted(); } }, { precondition: () => 'two copies of a dependency' })), [
    'patch "fake-patch": two copies of a dependency (docs/upstream/werift-fake.md)',
  ]);
});

test("every real patch's check catches a werift whose function changed", () => {
  // werift's functions as a new release might have them: same names and arity, other bodies.
  for (const patch of weriftPatches) {
    const changed: WeriftPatch = {
      ...patch,
      precondition: undefined,
      targets: patch.targets.map((t) => {
        const body = Array.from({ length: t.arity }, (_, i) => `a${i}`).join(', ');
        // A stand-in of the declared arity: only new Function gives a function a chosen length.
        // eslint-disable-next-line @typescript-eslint/no-implied-eval
        return { ...t, owner: { [t.key]: new Function(body, 'return 0') } };
      }),
    };
    const problems = checkWerift(WERIFT_VERSION, [changed]);
    for (const t of patch.targets.filter((x) => x.source?.length)) {
      assert.ok(problems.some((p) => p.includes(`${t.name} no longer contains`)), `${patch.name}: a changed ${t.name} is refused`);
    }
  }
  assert.ok(weriftPatches.some((p) => p.targets.some((t) => t.source?.length)), 'some patches check werift source');
});

test('installing on a mismatching werift throws, naming the patch, and installs none', () => {
  const applied: string[] = [];
  const patch = (name: string, owner: object): WeriftPatch => ({
    name,
    wrong: 'werift does something wrong',
    upstream: `docs/upstream/werift-${name}.md`,
    targets: [{ name: `${name}.go`, owner, key: 'go', arity: 0 }],
    apply: () => void applied.push(name),
  });
  const good = patch('good', { go() {} });
  const bad = patch('bad', { go(_x: number) {} });
  assert.throws(() => installPatches(WERIFT_VERSION, [good, bad]), (e: unknown) => {
    assert.ok(e instanceof WeriftMismatchError);
    assert.equal(e.message, "werift is not the one lancast's patches were written for:\n  - patch \"bad\": bad.go takes 1 parameters, not 0 (docs/upstream/werift-bad.md)");
    return true;
  });
  assert.throws(() => installPatches('0.25.0', [good]), /werift 0\.25\.0 is installed, the patches were written for 0\.24\.4/);
  assert.deepEqual(applied, [], 'nothing was installed');
  installPatches(WERIFT_VERSION, [good]);
  assert.deepEqual(applied, ['good']);
});
