/**
 * Quality presets for a LAN, where bandwidth is plentiful and the broadcaster's encoder is the
 * limit. Each sets how the devices capture (track constraints), how the pipeline paces frames,
 * what the encoder is told about the content (contentHint), and what each video sender may send
 * (RTCRtpSender.setParameters: maxBitrate, maxFramerate, degradationPreference).
 */
import type { Capture, SourceKind } from './sources.js';

export const PRESET_NAMES = ['auto', 'text', 'motion', 'camera', 'saver'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];
/** A preset that applies: 'auto' resolves to one of these by source. */
export type ConcretePreset = Exclude<PresetName, 'auto'>;

export interface VideoSendParameters {
  maxBitrate: number;
  maxFramerate: number;
  degradationPreference: RTCDegradationPreference;
}

export interface Preset {
  name: ConcretePreset;
  capture: Capture;
  send: VideoSendParameters;
}

const PRESETS: Record<ConcretePreset, Omit<Preset, 'name'>> = {
  // Slides, code, documents: every pixel of the screen, few frames, many bits per frame. When
  // the encoder cannot keep up it drops frames, never resolution.
  text: {
    capture: {
      screen: { frameRate: { ideal: 15, max: 15 } },
      camera: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 15, max: 15 } },
      fps: 15,
      contentHint: 'detail',
    },
    send: { maxBitrate: 6_000_000, maxFramerate: 15, degradationPreference: 'maintain-resolution' },
  },
  // Video and games: the frame rate holds, resolution gives way first.
  motion: {
    capture: {
      screen: { width: { max: 1920 }, height: { max: 1080 }, frameRate: { ideal: 60, max: 60 } },
      camera: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 60 } },
      fps: 60,
      contentHint: 'motion',
    },
    send: { maxBitrate: 8_000_000, maxFramerate: 60, degradationPreference: 'maintain-framerate' },
  },
  // A face or a room: 720p at 30 fps.
  camera: {
    capture: {
      screen: { width: { max: 1280 }, height: { max: 720 }, frameRate: { ideal: 30, max: 30 } },
      camera: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } },
      fps: 30,
      contentHint: 'motion',
    },
    send: { maxBitrate: 2_500_000, maxFramerate: 30, degradationPreference: 'maintain-framerate' },
  },
  // A weak Wi-Fi or many viewers peer to peer: small and slow, about 0.6 Mbit/s.
  saver: {
    capture: {
      screen: { width: { max: 1280 }, height: { max: 720 }, frameRate: { ideal: 10, max: 10 } },
      camera: { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15, max: 15 } },
      fps: 10,
      contentHint: 'detail',
    },
    send: { maxBitrate: 600_000, maxFramerate: 15, degradationPreference: 'balanced' },
  },
};

export function parsePreset(value: string | null | undefined): PresetName | undefined {
  return PRESET_NAMES.find((p) => p === value);
}

/** The preset that applies to a source: 'auto' is sharp text for a screen, 720p30 for the camera. */
export function resolvePreset(name: PresetName, source: SourceKind): Preset {
  const concrete: ConcretePreset = name === 'auto' ? (source === 'camera' ? 'camera' : 'text') : name;
  return { name: concrete, ...PRESETS[concrete] };
}
