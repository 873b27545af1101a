/**
 * Sanity limits on SDP from clients, before it reaches another browser or the relay: a real offer
 * has a handful of media sections and candidates; anything far past that is an attack or a bug.
 */
export const SDP_LIMITS = { mediaSections: 8, candidates: 64, lineLength: 4_096 } as const;

/** What is wrong with this SDP, in a few words, or undefined when it is sane. */
export function sdpProblem(sdp: string): string | undefined {
  if (!/^v=0\r?\n/.test(sdp)) return 'SDP must start with v=0';
  const lines = sdp.split(/\r?\n/);
  let media = 0;
  let candidates = 0;
  for (const line of lines) {
    if (line.length > SDP_LIMITS.lineLength) return `an SDP line is longer than ${SDP_LIMITS.lineLength} characters`;
    if (line.startsWith('m=')) media++;
    else if (line.startsWith('a=candidate:')) {
      candidates++;
      const problem = candidateProblem(line.slice(2));
      if (problem) return problem;
    }
  }
  if (media > SDP_LIMITS.mediaSections) return `SDP has ${media} media sections; at most ${SDP_LIMITS.mediaSections}`;
  if (candidates > SDP_LIMITS.candidates) return `SDP has ${candidates} candidates; at most ${SDP_LIMITS.candidates}`;
  return undefined;
}

/** `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...` */
export function candidateProblem(candidate: string): string | undefined {
  if (candidate === '') return undefined; // end-of-candidates
  const parts = candidate.replace(/^candidate:/, '').split(' ');
  if (parts.length < 8 || parts[6] !== 'typ') return 'a candidate is malformed';
  const port = Number(parts[5]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return 'a candidate has an impossible port';
  if (!/^(udp|tcp)$/i.test(parts[2])) return 'a candidate has an unknown transport';
  if (parts[4].length > 255) return 'a candidate has an absurd address';
  return undefined;
}
