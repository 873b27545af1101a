/** Prometheus metrics (`GET /metrics`): rooms, peers, messages and refusals. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { relayCounters } from '../relay/forwarder.js';
import { gateCounters, readCounters } from '../relay/ingress-gate.js';
import { ingressCounters } from '../relay/ingress.js';
import { relayThreadCounts } from '../relay/native.js';
import { routedReceiveCounters, rtcpSendCounters } from '../relay/werift/index.js';
import { summarizeLinks, type LinkSummary } from '../relay/link-summary.js';
import type { Relay } from '../relay/relay.js';
import type { WorkerLoad } from '../relay/workers.js';
import type { Hub, HubObserver } from '../signaling/hub.js';
import type { ErrorCode } from '../signaling/protocol.js';

export class Metrics implements HubObserver {
  readonly registry = new Registry();
  readonly #messages: Counter<'type'>;
  readonly #errors: Counter<'code'>;

  constructor(hub: () => Hub | undefined, relay?: () => Relay | undefined) {
    // The event-loop lag histogram samples with a timer of its own, each sample a turn of the main
    // thread's loop: prom-client's default (every 10 ms) kept an empty server at ~1 % of a core on
    // the development VM, every 100 ms at ~0.1 %, which in a small room was more turns than all its
    // media and RTCP took (docs/performance.md). Once a second still shows a stalled loop.
    collectDefaultMetrics({ register: this.registry, prefix: 'lancast_process_', eventLoopMonitoringPrecision: 1_000 });
    this.#messages = new Counter({
      name: 'lancast_signaling_messages_total',
      help: 'Valid signaling messages received, by type',
      labelNames: ['type'],
      registers: [this.registry],
    });
    this.#errors = new Counter({
      name: 'lancast_signaling_errors_total',
      help: 'Signaling messages refused, by error code',
      labelNames: ['code'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'lancast_rooms',
      help: 'Rooms with anyone in them',
      registers: [this.registry],
      collect() {
        this.set(hub()?.rooms.size ?? 0);
      },
    });
    new Gauge({
      name: 'lancast_live_rooms',
      help: 'Rooms with a broadcaster',
      registers: [this.registry],
      collect() {
        this.set([...(hub()?.rooms.values() ?? [])].filter((r) => r.live).length);
      },
    });
    new Gauge({
      name: 'lancast_viewers',
      help: 'Viewers in all rooms',
      registers: [this.registry],
      collect() {
        this.set([...(hub()?.rooms.values() ?? [])].reduce((n, r) => n + r.viewers.size, 0));
      },
    });
    this.#relayCounter('lancast_relay_packets_received_total', 'RTP packets the relay received from publishers', () => relayCounters.packetsIn);
    this.#relayCounter('lancast_relay_packets_forwarded_total', 'RTP packets the relay sent to viewers', () => relayCounters.packetsOut);
    this.#relayCounter('lancast_relay_payload_bytes_received_total', 'RTP payload bytes received from publishers', () => relayCounters.bytesIn);
    this.#relayCounter('lancast_relay_payload_bytes_forwarded_total', 'RTP payload bytes sent to viewers', () => relayCounters.bytesOut);
    this.#relayCounter('lancast_relay_packets_gated_total', 'RTP packets from publishers dropped before the WebRTC stack while nobody consumed them (also counted as received)', () => gateCounters.packets);
    this.#relayCounter('lancast_relay_packets_read_natively_total', "RTP packets from publishers read and decrypted by the native module and handed to the WebRTC stack's router (the rest Node reads)", () => readCounters.packets);
    this.#relayCounter('lancast_relay_packets_routed_natively_total', 'RTP packets from publishers the native module sent to their viewers as it read them, JavaScript taking them later in batches', () => readCounters.routed);
    this.#relayCounter('lancast_relay_packets_received_directly_total', "routed RTP packets JavaScript handed straight to their stream's receiver (statistics, NACK generator, track), past the WebRTC stack's router", () => routedReceiveCounters.direct);
    this.#relayCounter('lancast_relay_native_takes_total', 'times JavaScript took what the native module read from publishers (once per batch)', () => readCounters.takes);
    this.#relayCounter('lancast_relay_thread_wakeups_total', "Times the native relay thread woke to read publishers' packets and viewers' reports (main thread's legs; without it Node's event loop wakes for each)", () => relayThreadCounts().wakeups);
    this.#relayCounter('lancast_relay_thread_calls_total', "Times the native relay thread woke Node's event loop for JavaScript (a batch to take, feedback that cannot wait)", () => relayThreadCounts().calls);
    this.#relayCounter('lancast_relay_rtcp_read_natively_total', "SRTCP packets from viewers read, decrypted and parsed by the native module (the rest Node and the WebRTC stack read)", () => relayCounters.rtcpReadNatively);
    this.#relayCounter('lancast_relay_rtcp_sent_natively_total', "RTCP the relay sends (sender reports to viewers, REMB to publishers) protected and sent by the native module from the leg's socket (the rest go through the WebRTC stack)", () => rtcpSendCounters.natively);
    this.#relayCounter('lancast_relay_consent_answered_natively_total', "Viewers' consent checks (STUN binding requests on the selected pair) answered by the native module (the rest the WebRTC stack answers)", () => relayCounters.consentAnsweredNatively);
    this.#relayCounter('lancast_relay_consent_checks_sent_natively_total', "The relay's own consent checks to viewers (RFC 7675) sent by the native module (the rest the WebRTC stack sends)", () => relayCounters.consentChecksSentNatively);
    this.#relayCounter('lancast_relay_consent_checks_answered_total', "Viewers' answers to the relay's natively sent consent checks, taken by the native module", () => relayCounters.consentChecksAnswered);
    this.#relayCounter('lancast_relay_srtp_rejected_total', 'SRTP packets from publishers that failed authentication (native path)', () => ingressCounters.rejected);
    this.#relayCounter('lancast_relay_packets_retransmitted_total', 'RTP packets the relay sent again after a viewer reported them lost', () => relayCounters.retransmitted);
    this.#relayCounter('lancast_relay_resends_skipped_total', 'NACKed packets the relay did not send again: resent a moment ago, or over the share of the viewer\'s link that resends may take', () => relayCounters.resendsSkipped);
    this.#relayCounter('lancast_relay_probe_packets_total', 'Copies of packets sent on a viewer\'s RTX stream to probe whether its link carries a higher simulcast layer before switching up', () => relayCounters.probePackets);
    this.#relayCounterBy('lancast_relay_layer_switches_total', "Moves of relay viewers to a lower or a higher simulcast layer that Auto made for their link (a viewer's own pick is not counted)", 'direction', {
      down: () => relayCounters.layerDowns,
      up: () => relayCounters.layerUps,
    });
    this.#relayCounterBy('lancast_relay_probes_total', "Probes of a relay viewer's link before a move up a simulcast layer, by whether the link carried them", 'result', {
      held: () => relayCounters.probesHeld,
      failed: () => relayCounters.probesFailed,
    });
    // Relay viewers' links, summed up as a few quantiles over all of them (a series per viewer would grow with the audience).
    const links = (): LinkSummary => summarizeLinks(relay?.()?.viewerLinks() ?? []);
    const linkGauge = (name: string, help: string, read: (s: LinkSummary) => Map<number, number>) =>
      new Gauge({
        name,
        help,
        labelNames: ['quantile'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [q, value] of read(links())) this.set({ quantile: String(q) }, value);
        },
      });
    linkGauge('lancast_relay_viewer_estimate_bps', "Relay viewers' own estimates of their link's bandwidth (REMB heard in the last 5 s), in bits per second, at each quantile over the viewers", (s) => s.bps);
    linkGauge('lancast_relay_viewer_loss_ratio', "Share of packets relay viewers report lost (0..1, smoothed), at each quantile over the viewers with an estimate", (s) => s.loss);
    new Gauge({
      name: 'lancast_relay_viewers_estimated',
      help: "Relay video viewers whose link estimate is recent: the viewers the estimate and loss quantiles are over",
      registers: [this.registry],
      collect() {
        this.set(links().viewers);
      },
    });
    const workerGauge = (name: string, help: string, read: (w: WorkerLoad) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['worker'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const w of relay?.()?.workerLoad() ?? []) this.set({ worker: String(w.worker) }, read(w));
        },
      });
    workerGauge('lancast_relay_worker_utilization', 'Share of the last second each relay worker thread was busy (0..1)', (w) => w.utilization);
    workerGauge('lancast_relay_worker_viewers', "Viewers' legs on each relay worker thread", (w) => w.legs);
    new Gauge({
      name: 'lancast_relay_worker_info',
      help: "Each relay worker thread's Linux thread id (per-thread CPU is in /proc/<pid>/task/<thread_id>)",
      labelNames: ['worker', 'thread_id'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const w of relay?.()?.workerLoad() ?? []) this.set({ worker: String(w.worker), thread_id: String(w.threadId) }, 1);
      },
    });
    workerGauge('lancast_relay_worker_cpu_seconds', 'CPU time each relay worker thread has used (user + system)', (w) => w.cpuSeconds);
    // Simulcast layers by picture height (summed over rooms: a handful of heights, not a label per viewer).
    const layerGauge = (name: string, help: string, read: (t: { bitsPerSecond: number; viewers: number }) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['height'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const [height, t] of relay?.()?.layerTotals() ?? []) this.set({ height: String(height) }, read(t));
        },
      });
    layerGauge('lancast_relay_layer_viewers', 'Relay viewers sent the simulcast layer of each picture height', (t) => t.viewers);
    layerGauge('lancast_relay_layer_received_bps', 'Bits per second the relay receives of the simulcast layers of each picture height', (t) => t.bitsPerSecond);
    new Gauge({
      name: 'lancast_relay_layers_paused',
      help: 'Simulcast layers the relay has asked broadcast pages to stop sending, as no viewer wants them (dynacast)',
      registers: [this.registry],
      collect() {
        this.set(relay?.()?.pausedLayers() ?? 0);
      },
    });
    new Gauge({
      name: 'lancast_signaling_sockets',
      help: 'Open signaling sockets',
      registers: [this.registry],
      collect() {
        this.set(hub()?.peerCount ?? 0);
      },
    });
  }

  #relayCounter(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  /** A relay counter with one label, read for each of its values. */
  #relayCounterBy(name: string, help: string, label: string, reads: Record<string, () => number>): void {
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [value, read] of Object.entries(reads)) this.inc({ [label]: value }, read());
      },
    });
  }

  message(type: string): void {
    this.#messages.inc({ type });
  }

  error(code: ErrorCode): void {
    this.#errors.inc({ code });
  }
}
