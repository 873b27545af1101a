/**
 * A virtual X display (Xvfb, Debian's `xvfb`) for a browser that must run with a screen: Firefox
 * captures a screen for getDisplayMedia only when it has one (headless it finds none). The server
 * picks a free display number and says which; it stops with the test.
 */
import { spawn } from 'node:child_process';

export interface Display {
  /** For the browser's environment: DISPLAY=":N". */
  name: string;
  stop(): void;
}

export async function startXvfb(width = 1280, height = 1024): Promise<Display> {
  const proc = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-noreset'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const number = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`Xvfb did not start:\n${err}`));
    }, 10_000);
    (proc.stdio[3] as NodeJS.ReadableStream).on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.trim());
      }
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb could not run (apt-get install xvfb): ${e.message}`));
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited with ${code}:\n${err}`));
    });
  });
  return { name: `:${number}`, stop: () => proc.kill('SIGTERM') };
}
