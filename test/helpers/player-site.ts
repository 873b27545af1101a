/** Another origin for browser WHIP/WHEP tests: a static server on 127.0.0.2 serving the player page. */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PlayerSite {
  /** http://127.0.0.2:PORT/ (test/fixtures/cross-origin-player.html) */
  url: string;
  close(): Promise<void>;
}

export async function startPlayerSite(): Promise<PlayerSite> {
  const page = await readFile(new URL('../fixtures/cross-origin-player.html', import.meta.url));
  const site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page));
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.2', resolve));
  return {
    url: `http://127.0.0.2:${(site.address() as AddressInfo).port}/`,
    close: () => new Promise((resolve) => site.close(() => resolve())),
  };
}
