/** Small operations on a connection's RTP senders, shared by the broadcaster's connections. */
import type { VideoSendParameters } from './presets.js';
import { encodingBitrate } from './simulcast.js';

/** Put the named video codec first in every video transceiver's preferences (if supported). */
export function preferCodec(pc: RTCPeerConnection, codec: string): void {
  const all = RTCRtpSender.getCapabilities?.('video')?.codecs ?? [];
  const wanted = all.filter((c) => c.mimeType.toLowerCase() === `video/${codec}`);
  if (wanted.length === 0) return console.warn(`lancast: this browser cannot send ${codec}`);
  const rest = all.filter((c) => !wanted.includes(c));
  for (const t of pc.getTransceivers()) {
    if (t.receiver.track.kind === 'video' && t.currentDirection !== 'stopped') t.setCodecPreferences([...wanted, ...rest]);
  }
}

/** The sender of a connection for one kind of media, if it has one. */
export function senderFor(pc: RTCPeerConnection, kind: 'audio' | 'video'): RTCRtpSender | undefined {
  return pc.getTransceivers().find((t) => t.receiver.track.kind === kind && t.currentDirection !== 'stopped')?.sender;
}

/** A quality preset's limits on one video sender: every encoding's bit and frame rate (a simulcast layer its share), and what gives way first. */
export async function limitVideo(sender: RTCRtpSender, wanted: VideoSendParameters): Promise<void> {
  const params = sender.getParameters();
  if (!params.encodings?.length) return;
  for (const encoding of params.encodings) {
    encoding.maxBitrate = encodingBitrate(encoding, wanted.maxBitrate);
    encoding.maxFramerate = wanted.maxFramerate;
  }
  (params as RTCRtpSendParameters & { degradationPreference?: RTCDegradationPreference }).degradationPreference = wanted.degradationPreference;
  await sender.setParameters(params).catch((err: unknown) => console.warn('lancast: could not set the video parameters', err));
}

