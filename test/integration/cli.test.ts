/**
 * The command line and the process's life: flags and their environment twins, errors a user
 * can act on, the generated publish key across restarts, and a clean SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, afterEach, before, describe, test } from 'node:test';
import { FLAGS } from '../../src/config.js';
import { CLI, startLancast } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

afterEach(() => TestSocket.closeAll());

const dirs: string[] = [];
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lancast-cli-'));
  dirs.push(dir);
  return dir;
}

/** Run the CLI to completion (for flags that print and exit). */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    proc.on('error', reject);
    proc.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

interface Running {
  proc: ChildProcess;
  port: number;
  output(): string;
  /** SIGTERM (or another signal), then the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/**
 * Start the CLI with exactly these arguments (startLancast always passes --port and
 * --publish-key; these tests need to leave them out) and wait for its banner.
 */
async function launch(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const proc = spawn(process.execPath, [CLI, '--host', '127.0.0.1', '--no-qr', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${out}`)), 30_000);
    proc.stdout.on('data', () => {
      const m = /is live on port (\d+)/.exec(out);
      if (m && /Publish key: /.test(out)) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}:\n${out}`));
    });
  });
  return {
    proc,
    port,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      const t0 = Date.now();
      if (proc.exitCode === null) proc.kill(signal);
      // A process that hangs is killed and reported as such (no exit code), never waited on forever.
      const hung = setTimeout(() => proc.kill('SIGKILL'), 6_000);
      const code = await exited;
      clearTimeout(hung);
      return { code, ms: Date.now() - t0 };
    },
  };
}

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

function certFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

/**
 * The runs that only print and exit, started side by side once (each loads the whole server, so
 * one after another they would take seconds); each test below awaits its own.
 */
const BAD_VALUES: [string[], RegExp][] = [
  [['--port', 'abc'], /^lancast: --port must be an integer from 0 to 65535, not "abc"$/m],
  [['--mode', 'warp'], /^lancast: --mode must be p2p, relay or auto, not "warp"$/m],
  [['--cert', 'cert.pem'], /--cert and --key go together/],
  [['--ice-server', 'http://example.com'], /--ice-server "http:\/\/example.com": expected stun:host:port/],
  [['--ice-server', 'turn:u:%zz@turn.lan:3478'], /--ice-server "turn:u:%zz@turn.lan:3478": the user or password has a malformed %-escape/],
  [['--ice-server', 'turn:turn.lan:3478'], /a TURN server needs a user and a password/],
];
let quick: {
  help: ReturnType<typeof run>;
  version: ReturnType<typeof run>;
  unknown: ReturnType<typeof run>;
  badEnv: ReturnType<typeof run>;
  badValues: ReturnType<typeof run>[];
};

describe('flags', () => {
  before(() => {
    quick = {
      help: run(['--help']),
      version: run(['--version']),
      unknown: run(['--frobnicate']),
      badEnv: run([], { LANCAST_MODE: 'sideways' }),
      badValues: BAD_VALUES.map(([args]) => run(args)),
    };
  });

  test('--help prints every flag with its LANCAST_ environment twin, and exits 0', async () => {
    const res = await quick.help;
    assert.equal(res.status, 0);
    // The contract's flags, named here so that dropping one from the table fails this test.
    const contract = ['port', 'host', 'publish-key', 'view-password', 'mode', 'cert', 'key', 'data-dir', 'ice-server', 'legacy'];
    for (const flag of contract) assert.ok(FLAGS.some((f) => f.flag === flag), `--${flag} is in the flag table`);
    for (const f of FLAGS.filter((f) => f.env)) {
      const line = res.stdout.split('\n').find((l) => new RegExp(`^\\s+--${f.flag}\\b`).test(l));
      assert.ok(line, `--${f.flag} is in --help`);
      assert.equal(f.env, `LANCAST_${f.flag.toUpperCase().replaceAll('-', '_')}`);
      assert.ok(line.includes(`[${f.env}]`), `--${f.flag} names ${f.env}: ${line}`);
    }
    assert.match(res.stdout, /^\s+--help\b/m);
  });

  test('--version prints the version', async () => {
    const res = await quick.version;
    assert.equal(res.status, 0);
    assert.equal(res.stdout.trim(), version);
  });

  test('an unknown flag exits 2 with a message naming it and pointing to --help', async () => {
    const res = await quick.unknown;
    assert.equal(res.status, 2);
    assert.match(res.stderr, /^lancast: .*'--frobnicate'/);
    assert.match(res.stderr, /lancast --help/);
    assert.equal(res.stdout, '');
  });

  test('each bad value exits 2 with a sentence, not a stack trace', async () => {
    const results = await Promise.all(quick.badValues);
    BAD_VALUES.forEach(([args, sentence], i) => {
      const res = results[i];
      assert.equal(res.status, 2, `${args.join(' ')}: ${res.stderr}`);
      assert.match(res.stderr, sentence, args.join(' '));
      assert.doesNotMatch(res.stderr, /\n\s+at /, `${args.join(' ')} printed a stack trace`);
    });
  });

  test('a bad value in an environment twin is refused the same way', async () => {
    const res = await quick.badEnv;
    assert.equal(res.status, 2);
    assert.match(res.stderr, /--mode must be p2p, relay or auto, not "sideways"/);
  });

  test('LANCAST_PORT and LANCAST_PUBLISH_KEY are honoured', async () => {
    const port = await freePort();
    const s = await launch(['--data-dir', await tempDir()], { LANCAST_PORT: String(port), LANCAST_PUBLISH_KEY: 'from-the-env' });
    try {
      assert.equal(s.port, port);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
      assert.match(s.output(), /Publish key: from-the-env\n/);
      const b = await TestSocket.join(`ws://127.0.0.1:${port}/ws`, { role: 'broadcaster', room: 'env', key: 'from-the-env' });
      assert.equal(b.welcome.role, 'broadcaster');
    } finally {
      assert.equal((await s.stop()).code, 0);
    }
  });

  test('a flag beats its environment twin', async () => {
    const s = await launch(['--port', '0', '--publish-key', 'from-the-flag', '--data-dir', await tempDir()], {
      LANCAST_PORT: '1',
      LANCAST_PUBLISH_KEY: 'from-the-env',
    });
    try {
      assert.notEqual(s.port, 1);
      assert.match(s.output(), /Publish key: from-the-flag\n/);
    } finally {
      await s.stop();
    }
  });

  test('--port in use exits 1 with "port N is in use"', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const res = await run(['--host', '127.0.0.1', '--port', String(port), '--data-dir', await tempDir(), '--no-qr']);
      assert.equal(res.status, 1);
      assert.match(res.stderr, new RegExp(`^lancast: cannot start: port ${port} is in use; pick another with --port$`, 'm'));
      assert.doesNotMatch(res.stderr, /\n\s+at /);
    } finally {
      blocker.close();
    }
  });
});

describe('restarts', () => {
  test('without --publish-key a key is generated once and the same key works after a restart with the same --data-dir', async () => {
    const dataDir = await tempDir();
    const first = await launch(['--port', '0', '--data-dir', dataDir]);
    const key = /Publish key: (\S+)/.exec(first.output())![1];
    let fingerprint: string;
    try {
      assert.match(key, /^[A-Za-z0-9_-]{12}$/);
      assert.match(first.output(), /\(generated; kept in /);
      assert.equal((await readFile(join(dataDir, 'publish-key'), 'utf8')).trim(), key);
      assert.equal((await stat(join(dataDir, 'publish-key'))).mode & 0o077, 0, 'only its owner can read the key file');
      fingerprint = await certFingerprint(first.port);
    } finally {
      assert.equal((await first.stop()).code, 0);
    }

    const second = await launch(['--port', '0', '--data-dir', dataDir]);
    try {
      assert.equal(/Publish key: (\S+)/.exec(second.output())![1], key);
      const url = `ws://127.0.0.1:${second.port}/ws`;
      const b = await TestSocket.join(url, { role: 'broadcaster', room: 'again', key });
      assert.equal(b.welcome.live, true);
      const wrong = await TestSocket.open(url, { localAddress: '127.0.0.99' });
      assert.equal(await wrong.errorFor({ type: 'join', role: 'broadcaster', room: 'again2', key: 'test-key' }), 'bad-key');
      assert.equal(await certFingerprint(second.port), fingerprint, 'the self-signed certificate is kept too');
    } finally {
      await second.stop();
    }

    // A different data dir is a different key.
    const other = await launch(['--port', '0', '--data-dir', await tempDir()]);
    try {
      assert.notEqual(/Publish key: (\S+)/.exec(other.output())![1], key);
    } finally {
      await other.stop();
    }
  });
});

describe('shutting down', () => {
  test('SIGTERM closes every client with 1001 after telling viewers, and exits 0 within 3 s', async () => {
    const s = await startLancast();
    const b = await TestSocket.join(s.wsUrl, { role: 'broadcaster', room: 'bye', key: 'test-key' });
    const v = await TestSocket.join(s.wsUrl, { role: 'viewer', room: 'bye' });
    const idle = await TestSocket.open(s.wsUrl);
    await b.socket.next('viewer-joined');
    // An idle keep-alive HTTP connection must not hold the process up either.
    await fetch(`${s.url}/healthz`, { keepalive: true });
    const t0 = Date.now();
    const hung = setTimeout(() => s.proc.kill('SIGKILL'), 6_000);
    const code = await s.stop();
    clearTimeout(hung);
    const ms = Date.now() - t0;
    assert.equal(code, 0);
    assert.ok(ms < 3_000, `took ${ms} ms`);
    for (const socket of [b.socket, v.socket, idle]) {
      assert.deepEqual(await socket.closedWithin(), { code: 1001, reason: 'server shutting down' });
    }
    const ended = await v.socket.next('room', 0, (m) => m.live === false);
    assert.equal(ended.reason, 'server shutting down');
  });

  test('SIGINT (Ctrl-C) exits 0 too', async () => {
    const s = await launch(['--port', '0', '--publish-key', 'k', '--data-dir', await tempDir()]);
    const v = await TestSocket.join(`ws://127.0.0.1:${s.port}/ws`, { role: 'viewer', room: 'ctrl-c' });
    const { code, ms } = await s.stop('SIGINT');
    assert.equal(code, 0);
    assert.ok(ms < 3_000, `took ${ms} ms`);
    assert.equal((await v.socket.closedWithin()).code, 1001);
  });
});

describe('--legacy', () => {
  test('with --legacy a WebSocket on another path is accepted (the seed connects to /)', async () => {
    const s = await startLancast({ args: ['--legacy'] });
    try {
      const socket = await TestSocket.open(`ws://127.0.0.1:${s.port}/`);
      socket.send({ type: 'join', role: 'viewer', room: 'main' });
      assert.equal((await socket.next('welcome')).room, 'main');
    } finally {
      await s.stop();
    }
  });
});
