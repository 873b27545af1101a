/**
 * werift settings shared by every relay leg: gather only where lancast listens. The changes to
 * werift's own behaviour (werift/) are installed once at start-up by installWeriftPatches().
 */
import type { PeerConfig } from 'werift';
import type { IceServer } from './api.js';

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
      urls: Array.isArray(s.urls) ? s.urls[0] : s.urls,
      username: s.username,
      credential: s.credential,
    })),
    ...(specific
      ? {
          // werift adds every interface's address to the ones named here unless one of them is
          // among those (a loopback address never is): list none, name the one.
          iceInterfaceAddresses: v6 ? { udp6: options.host } : { udp4: options.host },
          iceAdditionalHostAddresses: [options.host],
          iceUseIpv4: false,
          iceUseIpv6: false,
        }
      : { iceUseIpv6: false }),
  };
}

/**
 * With `--host` naming one address, the relay's SDP keeps host candidates on `--host` only, plus
 * any server-reflexive or relayed ones. iceConfig() already gathers on that address alone; this
 * guards the SDP itself, since a werift upgrade that lists other interfaces again (its socket is
 * bound to `--host` only, so those would never answer) would cost every viewer failed checks.
 */
export function onlyListenAddress(sdp: string, options: RelayIceOptions): string {
  if (options.host === '0.0.0.0' || options.host === '::') return sdp;
  return sdp.replace(/^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ host\b.*\r?\n/gm, (line, address: string) => (address === options.host ? line : ''));
}
