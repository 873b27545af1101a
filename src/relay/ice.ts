/** ICE settings shared by every relay leg: gather only where lancast listens. */
import type { PeerConfig } from 'werift';
import type { IceServer } from '../signaling/protocol.js';

export interface RelayIceOptions {
  /** `--host`: when it names one address, the relay gathers candidates on that address only. */
  host: string;
  iceServers: IceServer[];
}

export function iceConfig(options: RelayIceOptions): Partial<PeerConfig> {
  const specific = options.host !== '0.0.0.0' && options.host !== '::';
  const v6 = options.host.includes(':');
  return {
    iceServers: options.iceServers.map((s) => ({
      urls: Array.isArray(s.urls) ? s.urls[0]! : s.urls,
      username: s.username,
      credential: s.credential,
    })),
    ...(specific
      ? {
          iceInterfaceAddresses: v6 ? { udp6: options.host } : { udp4: options.host },
          iceAdditionalHostAddresses: [options.host],
          iceUseIpv4: !v6,
          iceUseIpv6: v6,
        }
      : { iceUseIpv6: false }),
  };
}

/**
 * With `--host` naming one address, werift still lists the machine's other interface addresses
 * as host candidates (its socket is bound to `--host` only, so those would never answer): keep
 * the relay's SDP to candidates on `--host`, plus any server-reflexive or relayed ones.
 */
export function onlyListenAddress(sdp: string, options: RelayIceOptions): string {
  if (options.host === '0.0.0.0' || options.host === '::') return sdp;
  return sdp.replace(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ host\b.*\r?\n/gm, (line, address: string) => (address === options.host ? line : ''));
}
