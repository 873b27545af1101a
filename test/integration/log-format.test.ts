/**
 * What `lancast` prints: readable log lines around the banner on a terminal, pino's JSON lines
 * when its output goes to a pipe or a file, and `--log-format` / LANCAST_LOG_FORMAT to choose.
 * The terminal is a real pseudo-terminal: util-linux's `script` runs the CLI on one.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import { formatLine } from '../../src/log.js';
import { CLI, PUBLISH_KEY } from '../helpers/server.js';
import { TestSocket } from '../helpers/ws-client.js';

afterEach(() => TestSocket.closeAll());
const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const ANSI = new RegExp(String.raw`\u001b\[[0-9;]*m`, 'g');
/** `12:03:04.567 INFO  lancast listening port=…`, colours removed. */
const PRETTY = /^\d\d:\d\d:\d\d\.\d{3} (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) +\S/;

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The node process under `script` (its child, or the shell's child when the shell did not exec). */
async function cliPid(root: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    let pid = root;
    for (let depth = 0; depth < 3; depth++) {
      const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
      const next = Number(children.trim().split(/\s+/)[0]);
      if (!next) break;
      pid = next;
    }
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(CLI)) return pid;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no lancast process under script');
}

interface Run {
  /** As printed, colour codes and all. */
  raw: string;
  /** Without carriage returns and colour codes. */
  output: string;
  lines: string[];
}

/**
 * Start lancast (on a pseudo-terminal when `tty`), wait for its banner, make it log a warning (a
 * broadcaster with a wrong key), stop it with SIGTERM (it logs that too) and return what it printed.
 */
async function runLancast(tty: boolean, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const dataDir = await mkdtemp(join(tmpdir(), 'lancast-log-'));
  dirs.push(dataDir);
  const argv = [CLI, '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--publish-key', PUBLISH_KEY, '--no-qr', ...args];
  const environment = { ...process.env, LANCAST_LOG_FORMAT: undefined, NO_COLOR: undefined, TERM: 'xterm-256color', ...env };
  const proc: ChildProcess = tty
    ? spawn('script', ['-qfec', `exec ${[process.execPath, ...argv].map(shellQuote).join(' ')}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: environment })
    : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: environment });
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${output}`)), 30_000);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`lancast exited before its banner:\n${output}`));
    });
    proc.stdout!.on('data', () => {
      const m = /is live on port (\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const socket = await TestSocket.open(`ws://127.0.0.1:${port}/ws`);
  socket.send({ type: 'join', role: 'broadcaster', room: 'logged', key: 'not-the-key' });
  assert.equal((await socket.error()).code, 'bad-key');
  socket.close();
  process.kill(tty ? await cliPid(proc.pid!) : proc.pid!, 'SIGTERM');
  await exited;
  const clean = output.replace(/\r/g, '').replace(ANSI, '');
  return { raw: output, output: clean, lines: clean.split('\n').filter((l) => l.trim()) };
}

const jsonLines = (run: Run) =>
  run.lines.filter((l) => l.trimStart().startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; time: number });

function assertPretty(run: Run): void {
  assert.deepEqual(run.lines.filter((l) => l.trimStart().startsWith('{')), [], 'JSON lines in the output');
  const logs = run.lines.filter((l) => PRETTY.test(l));
  assert.ok(logs.some((l) => /INFO +lancast listening .*port=\d+/.test(l)), `no readable 'lancast listening' line:\n${run.output}`);
  assert.ok(logs.some((l) => /WARN +publish refused: wrong key .*room=logged .*address=127\.0\.0\.1/.test(l)), `no readable warning:\n${run.output}`);
  assert.ok(logs.some((l) => /INFO +shutting down signal=SIGTERM/.test(l)), `no readable shutdown line:\n${run.output}`);
  assert.match(run.output, /lancast \S+ is live on port \d+/, 'the banner');
}

function assertJson(run: Run): void {
  const entries = jsonLines(run);
  const messages = entries.map((e) => e.msg);
  for (const msg of ['lancast listening', 'publish refused: wrong key', 'shutting down']) assert.ok(messages.includes(msg), `no JSON line for '${msg}':\n${run.output}`);
  assert.ok(entries.every((e) => typeof e.level === 'number' && typeof e.time === 'number'));
  assert.deepEqual(run.lines.filter((l) => PRETTY.test(l)), [], 'readable log lines in JSON output');
  assert.match(run.output, /is live on port \d+/, 'the banner');
}

describe('log format', () => {
  test('on a terminal: readable lines, no JSON', async () => {
    assertPretty(await runLancast(true));
  });

  test('to a pipe: JSON lines', async () => {
    assertJson(await runLancast(false));
  });

  test('--log-format json on a terminal gives JSON; so does LANCAST_LOG_FORMAT=json', async () => {
    assertJson(await runLancast(true, ['--log-format', 'json']));
    assertJson(await runLancast(true, [], { LANCAST_LOG_FORMAT: 'json' }));
  });

  test('--log-format pretty to a pipe gives readable lines, without colour codes', async () => {
    const run = await runLancast(false, ['--log-format', 'pretty']);
    assertPretty(run);
    assert.doesNotMatch(run.raw, ANSI);
  });

  test('a bad value is refused and --help lists the flag', async () => {
    const help = await new Promise<string>((resolve) => {
      const p = spawn(process.execPath, [CLI, '--help']);
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.on('close', () => resolve(out));
    });
    assert.match(help, /--log-format FORMAT +pretty \| json \| auto .*\[LANCAST_LOG_FORMAT\]/);
    const refused = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, '--log-format', 'xml']);
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (code) => resolve({ code, err }));
    });
    assert.equal(refused.code, 2);
    assert.match(refused.err, /--log-format must be pretty, json or auto, not "xml"/);
  });
});

describe('a readable line', () => {
  const time = new Date(2026, 0, 2, 3, 4, 5, 67).getTime();

  test('has the time, the level, the message and the fields', () => {
    const line = formatLine(JSON.stringify({ level: 40, time, msg: 'relay viewer leg closed', leg: 'a1', why: 'silent for 8 s' }), false);
    assert.equal(line, '03:04:05.067 WARN  relay viewer leg closed leg=a1 why="silent for 8 s"\n');
  });

  test("shows an error's message, then its stack indented", () => {
    const line = formatLine(JSON.stringify({ level: 50, time, msg: 'boom', err: { type: 'Error', message: 'bad', stack: 'Error: bad\n    at x' } }), false);
    assert.equal(line, '03:04:05.067 ERROR boom err=bad\n    Error: bad\n        at x\n');
  });

  test('cuts a long value, and passes a line that is not JSON through', () => {
    const line = formatLine(JSON.stringify({ level: 30, time, msg: 'sdp', sdp: 'x'.repeat(1000) }), false);
    assert.ok(line.length < 200, line);
    assert.equal(formatLine('plain text', false), 'plain text\n');
  });

  test('colours only when asked', () => {
    const entry = JSON.stringify({ level: 30, time, msg: 'hi', a: 1 });
    assert.doesNotMatch(formatLine(entry, false), ANSI);
    assert.match(formatLine(entry, true), ANSI);
  });
});
