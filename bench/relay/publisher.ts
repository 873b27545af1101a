/**
 * A WHIP publisher for load runs, in its own process (libwebrtc's encoder): 1280x720 at 30 fps
 * unless told, half of each frame fresh noise so the stream stays near the encoder's ceiling
 * (~2.5 Mbit/s at 720p).
 *
 *   node --import tsx bench/relay/publisher.ts <base-url> <room> <key> [width] [height]
 */
import { whipPublish } from '../../test/helpers/wrtc.js';

const [base, room, key, width, height] = process.argv.slice(2);
const session = await whipPublish(base, room, key, { width: Number(width ?? 1280), height: Number(height ?? 720), noise: true });
process.stdout.write(`${JSON.stringify({ status: session.status })}\n`);
if (session.status !== 201) process.exit(1);
process.on('SIGTERM', () => {
  void session.stop().finally(() => process.exit(0));
});
