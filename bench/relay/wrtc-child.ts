/**
 * A benchmark's helper process (a script beside this module: TypeScript run by this Node, or Python
 * run by Debian's python3, which has GStreamer's bindings), spoken to in JSON lines over stdin/stdout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export class JsonChild {
  readonly proc: ChildProcess;
  readonly #lines: AsyncIterator<string, undefined>;
  #stderr = '';

  constructor(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const [command, ...head] = script.endsWith('.py') ? ['/usr/bin/python3', path] : [process.execPath, '--import', 'tsx', path];
    this.proc = spawn(command, [...head, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    this.proc.stderr!.on('data', (d) => (this.#stderr = (this.#stderr + d).slice(-4000)));
    this.#lines = createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();
  }

  /** The end of what the child wrote to stderr. */
  get stderr(): string {
    return this.#stderr;
  }

  /** The next line the child prints, parsed (it fails with the child's stderr if the child ends). */
  async next<T>(): Promise<T> {
    const line = await this.#lines.next();
    if (line.done) throw new Error(`${this.proc.spawnargs.join(' ')} ended: ${this.#stderr}`);
    return JSON.parse(line.value) as T;
  }

  async ask<T>(message: unknown): Promise<T> {
    this.proc.stdin!.write(`${JSON.stringify(message)}\n`);
    const reply = await this.next<T & { ok?: boolean; error?: string }>();
    if (reply.ok === false) throw new Error(reply.error);
    return reply;
  }

  /** Ends the child: SIGTERM, and SIGKILL if it has not gone in `graceMs`. */
  async kill(graceMs = 5_000): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * The helper process's side: each JSON line from stdin goes to `handle`, whose result is the reply
 * (with `ok: true`), or `{ok: false, error}` if it throws; `{"stop": true}` is answered and ends the
 * process, as does the end of stdin.
 */
export async function serveJsonLines<C extends { stop?: boolean }>(handle: (cmd: C) => Promise<Record<string, unknown>>): Promise<never> {
  const reply = (m: unknown) => process.stdout.write(`${JSON.stringify(m)}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    const cmd = JSON.parse(line) as C;
    if (cmd.stop) {
      reply({ ok: true });
      process.exit(0);
    }
    try {
      reply({ ok: true, ...(await handle(cmd)) });
    } catch (err) {
      reply({ ok: false, error: (err as Error).message });
    }
  }
  process.exit(0);
}
