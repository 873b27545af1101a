/**
 * /broadcast/<room>: pick what to show (camera, screen, both) and the devices, go live, switch
 * while live, see who is watching and how to share the link.
 */
import { Broadcaster, type BroadcasterState } from '../client/broadcaster.js';
import { parsePreset, resolvePreset, type PresetName } from '../client/presets.js';
import { parseSource, Sources, type SourceKind } from '../client/sources.js';
import { $, roomFromPath, setPart } from './dom.js';
import { formatRate, outboundBytes, outboundVideo, type OutboundVideo } from './stats.js';
import { modeReason, t, type Lang, type StringKey } from './strings.js';
import { mountRecordControl } from './record-control.js';

const lang = document.documentElement.lang as Lang;
const room = roomFromPath();
const params = new URLSearchParams(location.search);
const requestedMode = (['p2p', 'relay', 'auto'] as const).find((m) => m === params.get('mode'));

const preview = $<HTMLVideoElement>('preview');
const status = $('status');
const errorBox = $('error');
const cameraSelect = $<HTMLSelectElement>('camera');
const micSelect = $<HTMLSelectElement>('microphone');
const keyInput = $<HTMLInputElement>('key');
const startButton = $<HTMLButtonElement>('start');
const stopButton = $<HTMLButtonElement>('stop');
const watchUrl = $<HTMLInputElement>('watch-url');
const viewerCount = $('viewer-count');
const modeLine = $('mode');
const uplink = $('uplink');
const sourceStatus = $('source-status');
const shareButton = $<HTMLButtonElement>('share-screen');
const screenAudio = $<HTMLInputElement>('screen-audio');
const sourceRadios = [...document.querySelectorAll<HTMLInputElement>('input[name=source]')];
const presetSelect = $<HTMLSelectElement>('preset');
const sendingLine = $('sending');

const sources = new Sources({ stillText: [t(lang, 'stillTitle'), t(lang, 'stillHint')], canvas: params.get('compositor') === 'canvas' });
let kind: SourceKind = parseSource(params.get('source')) ?? 'camera';
/** The quality preset: the URL's, else the one picked last time (kept), else automatic. */
let presetName: PresetName = parsePreset(params.get('preset')) ?? parsePreset(localStorage.getItem('lancast:preset')) ?? 'auto';
presetSelect.value = presetName;

type PageState = 'idle' | 'starting' | BroadcasterState;
let broadcaster: Broadcaster | undefined;
let pageState: PageState = 'idle';
// For tests and the curious: the live objects behind the page.
const exposed: { broadcaster?: Broadcaster; sources: Sources } = { sources };
Object.assign(window, { lancast: exposed });

keyInput.value = params.get('key') ?? localStorage.getItem('lancast:publish-key') ?? '';
mountRecordControl(lang, room, () => keyInput.value.trim(), $('status'));
setPart(viewerCount, t(lang, 'watching', { n: 0 }));
checkSource(kind);

function setState(state: PageState): void {
  pageState = state;
  document.body.dataset.state = state;
  const text: Record<PageState, string> = {
    idle: t(lang, 'bStateIdle'),
    starting: t(lang, 'bStateStarting'),
    connecting: t(lang, 'bStateConnecting'),
    live: t(lang, broadcaster?.paused ? 'bStatePaused' : 'bStateLive'),
    reconnecting: t(lang, 'reconnecting'),
    stopped: t(lang, 'bStateIdle'),
    error: t(lang, 'bStateError'),
  };
  status.textContent = text[state];
  const running = state === 'connecting' || state === 'live' || state === 'reconnecting' || state === 'starting';
  startButton.disabled = running;
  stopButton.disabled = !running;
  if (!running) setPart(modeLine, '');
}

function showError(message: string | undefined): void {
  errorBox.textContent = message ?? '';
  errorBox.hidden = !message;
}

function mediaError(err: unknown): string {
  if (!window.isSecureContext || !navigator.mediaDevices) return t(lang, 'errInsecure');
  const name = (err as DOMException)?.name;
  if ((err as { screen?: boolean })?.screen) return t(lang, ['NotSupportedError', 'NotFoundError', 'TypeError'].includes(name) ? 'errNoScreen' : 'errScreenRefused');
  if (name === 'NotAllowedError' || name === 'SecurityError') return t(lang, 'errPermission');
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return t(lang, 'errNoDevice');
  return String((err as Error)?.message ?? err);
}

/** The browser asks for a click before it shares a screen (Firefox, Safari): offer a button for it. */
function needsClick(err: unknown): boolean {
  return (err as { noGesture?: boolean })?.noGesture === true;
}

function askForClick(show: boolean): void {
  shareButton.hidden = !show;
  if (show) {
    showError(undefined);
    sourceStatus.textContent = t(lang, 'needClick');
    shareButton.focus();
  }
}

/** Say what is being shown (a polite live region: screen readers hear every switch). */
function announce(key?: StringKey): void {
  const showing: Record<SourceKind, StringKey> = { camera: 'showingCamera', screen: 'showingScreen', 'screen+camera': 'showingScreenCamera' };
  sourceStatus.textContent = t(lang, key ?? (sources.output.video ? showing[sources.kind] : 'showingNothing'));
}

/** Capture and send as the preset says for this source ('auto' depends on the source). */
async function applyPreset(forKind: SourceKind): Promise<void> {
  const preset = resolvePreset(presetName, forKind);
  document.body.dataset.preset = preset.name;
  await Promise.all([sources.setCapture(preset.capture), broadcaster?.setVideoParameters(preset.send)]);
}

function checkSource(value: SourceKind): void {
  for (const radio of sourceRadios) radio.checked = radio.value === value;
}

async function listDevices(): Promise<void> {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, track: MediaStreamTrack | undefined, id: string) => {
    // The device in use when there is one; "None" when this kind is off.
    const keep = track?.getSettings().deviceId ?? (id === 'none' ? 'none' : select.value);
    select.replaceChildren();
    devices
      .filter((d) => d.kind === kind)
      .forEach((d, i) => select.append(new Option(d.label || `${kind} ${i + 1}`, d.deviceId)));
    select.append(new Option(t(lang, 'noDevice'), 'none'));
    if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  };
  fill(cameraSelect, 'videoinput', sources.camera, sources.cameraId);
  fill(micSelect, 'audioinput', sources.mic, sources.micId);
}

async function start(): Promise<void> {
  showError(undefined);
  askForClick(false);
  setState('starting');
  try {
    await applyPreset(kind);
    await sources.use(kind);
  } catch (err) {
    await listDevices().catch(() => undefined);
    setState('idle');
    if (needsClick(err)) return askForClick(true);
    showError(mediaError(err));
    setState('error');
    return;
  }
  announce();
  await listDevices().catch(() => undefined);
  const key = keyInput.value.trim();
  localStorage.setItem('lancast:publish-key', key);
  broadcaster?.stop();
  const codec = params.get('codec') ?? undefined;
  const simulcast = params.get('simulcast') !== '0';
  const viewPassword = $<HTMLInputElement>('view-password').value || undefined;
  broadcaster = new Broadcaster({
    room,
    key,
    stream: sources.preview,
    ...(requestedMode ? { mode: requestedMode } : {}),
    ...(codec ? { codec } : {}),
    simulcast,
    ...(viewPassword ? { viewPassword } : {}),
  });
  void broadcaster.setVideoParameters(resolvePreset(presetName, sources.kind).send);
  broadcaster.on('state', setState);
  broadcaster.on('paused', (paused) => {
    document.body.dataset.sending = paused ? 'paused' : 'on';
    setState(pageState);
  });
  broadcaster.on('room', (s) => {
    setPart(viewerCount, t(lang, 'watching', { n: s.viewers }));
    setPart(modeLine, s.reason ? t(lang, 'modeWhy', { mode: s.mode, reason: modeReason(lang, s.reason) }) : t(lang, 'mode', { mode: s.mode }));
  });
  broadcaster.on('error', (err) => {
    if (err.code === 'bad-key') {
      showError(t(lang, 'errBadKey'));
      keyInput.focus();
    } else if (err.code === 'replaced') showError(t(lang, 'errReplaced'));
    else if (err.code === 'too-many-attempts') showError(t(lang, 'errAttempts', { seconds: Math.ceil((err.retryAfterMs ?? 0) / 1000) }));
    else if (err.code === 'too-many-rooms') showError(t(lang, 'errTooManyRooms'));
    else showError(t(lang, 'errServer', { message: err.message }));
  });
  broadcaster.start();
  exposed.broadcaster = broadcaster;
}

function stop(): void {
  broadcaster?.stop();
  broadcaster = undefined;
  exposed.broadcaster = undefined;
  // Off air, the screen is no longer shared; the camera preview stays.
  void sources.endScreen().catch(() => undefined);
  // Not live: no mode, no upload rate, nobody watching.
  setPart(viewerCount, t(lang, 'watching', { n: 0 }));
  setPart(modeLine, '');
  setPart(uplink, '');
  sourceStatus.textContent = '';
  setState('idle');
}

/** Another source: while live it opens at once (the click lets the browser share a screen). */
async function chooseSource(next: SourceKind): Promise<void> {
  kind = next;
  askForClick(false);
  showError(undefined);
  try {
    // The source opens first: the preset's capture settings are in place before it opens, and
    // the devices and sender take the rest of the preset while the browser opens the screen.
    const using = sources.use(next, { openScreen: broadcaster !== undefined, capture: resolvePreset(presetName, next).capture });
    const preset = applyPreset(next);
    await Promise.all([using, preset]);
    if (broadcaster) announce();
  } catch (err) {
    // Still showing what was shown before.
    await applyPreset(sources.kind).catch(() => undefined);
    if (needsClick(err)) return askForClick(true);
    showError(mediaError(err));
    kind = sources.kind;
    checkSource(kind);
  }
  await listDevices().catch(() => undefined);
}

async function changeDevice(change: Promise<void>): Promise<void> {
  try {
    await change;
    showError(undefined);
  } catch (err) {
    showError(mediaError(err));
  }
  await listDevices().catch(() => undefined);
}

sources.on('output', (output) => {
  void broadcaster?.setTracks(output);
  // An element playing a stream without tracks holds back the page's load event.
  const next = output.video || output.audio ? sources.preview : null;
  if (preview.srcObject !== next) preview.srcObject = next;
});
sources.on('fallback', (to) => {
  kind = sources.kind;
  void applyPreset(kind).catch(() => undefined);
  checkSource(kind);
  announce(to === 'camera' ? 'endedCamera' : 'endedStill');
});
sources.on('warning', (err) => showError(mediaError(err)));
sources.on('blocked', (kind) => showError(t(lang, `warnBlocked_${kind}`)));

/** The link to share: on a LAN address, not localhost, which a phone cannot open. */
async function shareLink(): Promise<void> {
  let host = location.host;
  if (/^(localhost|127\.|\[::1\])/.test(location.hostname)) {
    const info = (await fetch('/api/info').then((r) => r.json()).catch(() => undefined)) as { addresses?: string[]; port?: number } | undefined;
    const lan = info?.addresses?.find((a) => !a.startsWith('127.'));
    if (lan && info?.port) host = `${lan}:${info.port}`;
  }
  const url = `http://${host}/watch/${encodeURIComponent(room)}`;
  watchUrl.value = url;
  $<HTMLImageElement>('qr').src = `/qr.svg?text=${encodeURIComponent(url)}`;
}

$<HTMLFormElement>('controls').addEventListener('submit', (event) => {
  event.preventDefault();
  void start();
});
stopButton.addEventListener('click', stop);
cameraSelect.addEventListener('change', () => void changeDevice(sources.setCamera(cameraSelect.value)));
micSelect.addEventListener('change', () => void changeDevice(sources.setMic(micSelect.value)));
screenAudio.addEventListener('change', () => void changeDevice(sources.setScreenAudio(screenAudio.checked)));
for (const radio of sourceRadios) radio.addEventListener('change', () => radio.checked && void chooseSource(radio.value as SourceKind));
presetSelect.addEventListener('change', () => {
  presetName = parsePreset(presetSelect.value) ?? 'auto';
  localStorage.setItem('lancast:preset', presetName);
  void changeDevice(applyPreset(sources.kind));
});
shareButton.addEventListener('click', () => void (broadcaster ? chooseSource(kind) : start()));
$('copy').addEventListener('click', async () => {
  await navigator.clipboard?.writeText(watchUrl.value).catch(() => undefined);
  watchUrl.select();
  $('copy').textContent = t(lang, 'copied');
});

setInterval(async () => {
  if (!broadcaster) return setPart(uplink, '');
  const conns = [...broadcaster.connections.values(), ...(broadcaster.publishing ? [broadcaster.publishing] : [])];
  const now = performance.now();
  const bytes = outboundBytes(await Promise.all(conns.map((c) => c.pc.getStats())));
  const last = (uplink as HTMLElement & { last?: { bytes: number; at: number } }).last;
  if (last && bytes >= last.bytes) setPart(uplink, t(lang, 'uplink', { rate: formatRate(((bytes - last.bytes) * 8) / ((now - last.at) / 1000)) }));
  (uplink as HTMLElement & { last?: unknown }).last = { bytes, at: now };
}, 2_000);

/** What the encoder sends, from getStats: the relay upload's, or the first viewer's in p2p. */
let lastSent: OutboundVideo | undefined;
setInterval(async () => {
  const conn = broadcaster?.publishing ?? broadcaster?.connections.values().next().value;
  if (!conn || pageState !== 'live') {
    lastSent = undefined;
    return setPart(sendingLine, '');
  }
  const now = outboundVideo(await conn.pc.getStats());
  const rate = lastSent && now.bytes >= lastSent.bytes ? ((now.bytes - lastSent.bytes) * 8) / ((now.at - lastSent.at) / 1000) : undefined;
  lastSent = now;
  if (now.width && rate !== undefined) setPart(sendingLine, t(lang, 'sending', { width: now.width, height: now.height, fps: Math.round(now.fps), rate: formatRate(rate) }));
}, 1_000);

setState('idle');
void shareLink();
if (!window.isSecureContext || !navigator.mediaDevices) {
  showError(t(lang, 'errInsecure'));
  setState('error');
} else if (params.get('autostart') === '1') {
  void start();
} else {
  // Show the camera and fill the pickers straight away; going live is one click.
  applyPreset(kind)
    .then(() => sources.use(kind, { openScreen: false }))
    .catch((err) => showError(mediaError(err)))
    .finally(() => void listDevices().catch(() => undefined));
}
