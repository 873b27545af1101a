import net from 'node:net';
import { startLancast } from '/work/main/test/helpers/server.ts';
import WebSocket from 'ws';
const s = await startLancast({ args: ['--max-sockets-per-address', '5'] });
for (let i = 0; i < 6; i++) {
  const r = await new Promise<string>((resolve) => {
    const c = net.connect(s.port, '127.0.0.1', () => c.write(`GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    let out = ''; c.on('data', (d) => (out += d)); c.on('close', () => resolve(out.split('\r\n')[0]));
  });
  console.log('bad handshake', i, r);
}
const ws = new WebSocket(s.wsUrl);
ws.on('open', () => { console.log('good socket open'); ws.close(); });
ws.on('unexpected-response', (_q, res) => console.log('good socket refused', res.statusCode));
ws.on('error', (e) => console.log('err', e.message));
await new Promise((r) => setTimeout(r, 1000));
console.log(await s.stop());
