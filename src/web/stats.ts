/** Reading getStats() for the pages' status lines. */
export interface InboundSummary {
  bytes: number;
  at: number;
  width: number;
  height: number;
  fps: number;
  framesDecoded: number;
}

export function inboundSummary(report: RTCStatsReport): InboundSummary {
  const out: InboundSummary = { bytes: 0, at: performance.now(), width: 0, height: 0, fps: 0, framesDecoded: 0 };
  report.forEach((s: Record<string, unknown>) => {
    if (s.type !== 'inbound-rtp') return;
    out.bytes += Number(s.bytesReceived ?? 0);
    if (s.kind === 'video') {
      out.width = Number(s.frameWidth ?? 0);
      out.height = Number(s.frameHeight ?? 0);
      out.fps = Number(s.framesPerSecond ?? 0);
      out.framesDecoded = Number(s.framesDecoded ?? 0);
    }
  });
  return out;
}

/** Total bytes sent by every outbound-rtp in these reports. */
export function outboundBytes(reports: RTCStatsReport[]): number {
  let bytes = 0;
  for (const report of reports) {
    report.forEach((s: Record<string, unknown>) => {
      if (s.type === 'outbound-rtp') bytes += Number(s.bytesSent ?? 0);
    });
  }
  return bytes;
}

/** A no-break space keeps a number and its unit on one line on a narrow screen. */
export function formatRate(bitsPerSecond: number): string {
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(1)}\u00a0Mbit/s`;
  return `${Math.round(bitsPerSecond / 1e3)}\u00a0kbit/s`;
}

export interface OutboundVideo {
  bytes: number;
  at: number;
  width: number;
  height: number;
  fps: number;
}

/** What one connection's video sender is sending (its encoder's output). */
export function outboundVideo(report: RTCStatsReport): OutboundVideo {
  const out: OutboundVideo = { bytes: 0, at: performance.now(), width: 0, height: 0, fps: 0 };
  report.forEach((s: Record<string, unknown>) => {
    if (s.type !== 'outbound-rtp' || s.kind !== 'video') return;
    out.bytes += Number(s.bytesSent ?? 0);
    out.width = Math.max(out.width, Number(s.frameWidth ?? 0));
    out.height = Math.max(out.height, Number(s.frameHeight ?? 0));
    out.fps = Math.max(out.fps, Number(s.framesPerSecond ?? 0));
  });
  return out;
}
