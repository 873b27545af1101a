/**
 * What the relay negotiates. Publishers may send VP8 or H.264 video and Opus audio; viewers get
 * exactly the publisher's codec. Video feedback: NACK (repairs), PLI/FIR (keyframes) and REMB
 * (bandwidth). Transport-wide CC is deliberately not offered to publishers: with it the browser
 * trusts a sender-side estimate that werift's feedback drags down (see TESTING.md); with REMB the
 * relay tells the encoder how much the LAN can carry and it climbs to full quality.
 */
import { RTCRtpCodecParameters, type RTCPFB } from 'werift';

const VIDEO_FEEDBACK: RTCPFB[] = [
  { type: 'nack' },
  { type: 'nack', parameter: 'pli' },
  { type: 'ccm', parameter: 'fir' },
  { type: 'goog-remb' },
];

export type MediaKind = 'audio' | 'video';

const rtx = () => new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 });

/** Codecs a publisher may use, in the relay's order of preference. */
export function publisherCodecs(): { audio: RTCRtpCodecParameters[]; video: RTCRtpCodecParameters[] } {
  return {
    audio: [opus()],
    video: [
      new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: VIDEO_FEEDBACK }),
      rtx(),
      new RTCRtpCodecParameters({
        mimeType: 'video/H264',
        clockRate: 90000,
        rtcpFeedback: VIDEO_FEEDBACK,
        parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      }),
      rtx(),
    ],
  };
}

function opus(): RTCRtpCodecParameters {
  return new RTCRtpCodecParameters({
    mimeType: 'audio/opus',
    clockRate: 48000,
    channels: 2,
    parameters: 'minptime=10;useinbandfec=1',
    rtcpFeedback: [],
  });
}

/**
 * Codecs for a viewer's leg: the publisher's own codec (same parameters, so H.264 profiles
 * match), with RTX for retransmissions. Payload types are the relay's to choose; werift's sender
 * rewrites them per viewer. For a kind the publisher does not send, the codecs players offer, so
 * that a player's section of that kind can be answered `inactive` (RFC 3264 §6) rather than the
 * whole offer refused: every player offers audio and video, and a room may have only one.
 */
export function subscriberCodecs(publisher: Partial<Record<MediaKind, RTCRtpCodecParameters>>): {
  audio: RTCRtpCodecParameters[];
  video: RTCRtpCodecParameters[];
} {
  const copy = (c: RTCRtpCodecParameters, feedback: RTCPFB[]) =>
    new RTCRtpCodecParameters({
      mimeType: c.mimeType,
      clockRate: c.clockRate,
      channels: c.channels,
      parameters: c.parameters,
      rtcpFeedback: feedback,
    });
  return {
    audio: publisher.audio ? [copy(publisher.audio, [])] : declined('audio'),
    video: publisher.video ? [copy(publisher.video, VIDEO_FEEDBACK), rtx()] : declined('video'),
  };
}

/** What players offer for a kind (werift matches by MIME type alone): only ever answered inactive. */
function declined(kind: MediaKind): RTCRtpCodecParameters[] {
  const names =
    kind === 'audio'
      ? ['opus/48000/2', 'PCMU/8000', 'PCMA/8000', 'G722/8000', 'ISAC/16000', 'ILBC/8000']
      : ['VP8/90000', 'VP9/90000', 'H264/90000', 'AV1/90000', 'H265/90000'];
  return names.map((name) => {
    const [mime, clockRate, channels] = name.split('/');
    return new RTCRtpCodecParameters({ mimeType: `${kind}/${mime}`, clockRate: Number(clockRate), ...(channels ? { channels: Number(channels) } : {}) });
  });
}
