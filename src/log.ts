/**
 * The process's logger: pino's JSON lines for machines (a pipe, a file, journald), or one short
 * readable line per entry for a person at a terminal. The readable form is written in-process:
 * pino-pretty would run as a worker-thread transport and bring a dozen dependencies for it.
 */
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type LogFormat = 'pretty' | 'json';

/** `auto`: readable on a terminal, JSON anywhere else. */
export function resolveLogFormat(format: Config['logFormat'], isTTY: boolean | undefined): LogFormat {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
}

const LEVELS: Record<number, { name: string; color: string }> = {
  10: { name: 'TRACE', color: '90' },
  20: { name: 'DEBUG', color: '36' },
  30: { name: 'INFO', color: '32' },
  40: { name: 'WARN', color: '33' },
  50: { name: 'ERROR', color: '31' },
  60: { name: 'FATAL', color: '41;97' },
};

/** Long values (an SDP, a stack) would bury the line: each field shows at most this much. */
const MAX_VALUE = 160;

function fieldValue(value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  else if (value instanceof Object) text = JSON.stringify(value);
  else text = String(value);
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * One pino JSON line -> `12:03:04.567 INFO  message key=value …`; a line that is not pino's JSON
 * passes through unchanged. An error's stack follows on indented lines.
 */
export function formatLine(line: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const { level, time, msg, pid: _pid, hostname: _host, ...fields } = entry;
  const lv = LEVELS[Number(level)] ?? { name: String(level), color: '0' };
  const paint = (code: string, text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  let stack = '';
  const err = fields.err as { message?: string; stack?: string } | undefined;
  if (err && typeof err === 'object') {
    fields.err = err.message ?? err;
    if (err.stack) stack = `\n${err.stack.replace(/^/gm, '    ')}`;
  }
  const rest = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${fieldValue(v)}`)
    .join(' ');
  const head = `${paint('2', clock(typeof time === 'number' ? time : Date.now()))} ${paint(lv.color, lv.name.padEnd(5))} ${typeof msg === 'string' ? msg : JSON.stringify(msg ?? '')}`;
  return `${head}${rest ? ` ${paint('2', rest)}` : ''}${stack}\n`;
}

/** A pino destination that writes readable lines to `out`. */
export function prettyDestination(out: NodeJS.WritableStream, color: boolean): { write(line: string): void } {
  return { write: (line: string) => void out.write(formatLine(line, color)) };
}

export function createLogger(config: Pick<Config, 'logLevel' | 'logFormat'>, out: NodeJS.WriteStream = process.stdout): Logger {
  const options = { level: config.logLevel, base: undefined };
  // JSON goes to pino's own synchronous stdout writer, as it always has.
  if (resolveLogFormat(config.logFormat, out.isTTY) === 'json') return out === process.stdout ? pino(options) : pino(options, out);
  // Colours on a colour terminal, unless NO_COLOR asks for none (no-color.org).
  const color = Boolean(out.isTTY && out.hasColors?.() && !process.env.NO_COLOR);
  return pino(options, prettyDestination(out, color));
}
