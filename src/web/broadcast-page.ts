/** /broadcast/<room>: pick devices, go live, see who is watching and how to share the link. */
import { Broadcaster, type BroadcasterState } from '../client/broadcaster.js';
import { $, roomFromPath, setPart } from './dom.js';
import { formatRate, outboundBytes } from './stats.js';
import { modeReason, t, type Lang } from './strings.js';

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

type PageState = 'idle' | 'starting' | BroadcasterState;
let stream: MediaStream | undefined;
let broadcaster: Broadcaster | undefined;
let pageState: PageState = 'idle';

keyInput.value = params.get('key') ?? localStorage.getItem('lancast:publish-key') ?? '';
setPart(viewerCount, t(lang, 'watching', { n: 0 }));

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
  if (name === 'NotAllowedError' || name === 'SecurityError') return t(lang, 'errPermission');
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return t(lang, 'errNoDevice');
  return String((err as Error)?.message ?? err);
}

async function openDevices(): Promise<MediaStream> {
  let video: MediaTrackConstraints | boolean = cameraSelect.value === 'none' ? false : cameraSelect.value ? { deviceId: { exact: cameraSelect.value } } : true;
  let audio: MediaTrackConstraints | boolean = micSelect.value === 'none' ? false : micSelect.value ? { deviceId: { exact: micSelect.value } } : true;
  if (!video && !audio) throw Object.assign(new Error('no devices'), { name: 'NotFoundError' });
  let next: MediaStream;
  try {
    next = await navigator.mediaDevices.getUserMedia({ video, audio });
  } catch (err) {
    const name = (err as DOMException)?.name;
    if (name !== 'NotFoundError' && name !== 'OverconstrainedError') throw err;
    // A machine may have a camera and no microphone (or the picked device is gone): ask again
    // for the kinds it has, the default device of each.
    const devices = await navigator.mediaDevices.enumerateDevices();
    const has = (kind: MediaDeviceKind, id: string) => devices.some((d) => d.kind === kind && (!id || !d.deviceId || d.deviceId === id));
    const retry = (wanted: MediaTrackConstraints | boolean, kind: MediaDeviceKind, id: string) =>
      !wanted || !devices.some((d) => d.kind === kind) ? false : has(kind, id) ? wanted : true;
    video = retry(video, 'videoinput', cameraSelect.value);
    audio = retry(audio, 'audioinput', micSelect.value);
    if (!video && !audio) throw err;
    next = await navigator.mediaDevices.getUserMedia({ video, audio });
  }
  for (const track of stream?.getTracks() ?? []) track.stop();
  stream = next;
  preview.srcObject = next;
  return next;
}

async function listDevices(): Promise<void> {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const fill = (select: HTMLSelectElement, kind: MediaDeviceKind, current: string | undefined) => {
    // The device in use when there is one; "None" when this kind is not being sent.
    const keep = stream ? (current ?? 'none') : select.value;
    select.replaceChildren();
    devices
      .filter((d) => d.kind === kind)
      .forEach((d, i) => select.append(new Option(d.label || `${kind} ${i + 1}`, d.deviceId)));
    select.append(new Option(t(lang, 'noDevice'), 'none'));
    if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  };
  fill(cameraSelect, 'videoinput', stream?.getVideoTracks()[0]?.getSettings().deviceId);
  fill(micSelect, 'audioinput', stream?.getAudioTracks()[0]?.getSettings().deviceId);
}

async function start(): Promise<void> {
  showError(undefined);
  setState('starting');
  try {
    const media = stream ?? (await openDevices());
    await listDevices();
    const key = keyInput.value.trim();
    localStorage.setItem('lancast:publish-key', key);
    broadcaster?.stop();
    const codec = params.get('codec') ?? undefined;
    const viewPassword = $<HTMLInputElement>('view-password').value || undefined;
    broadcaster = new Broadcaster({
      room,
      key,
      stream: media,
      ...(requestedMode ? { mode: requestedMode } : {}),
      ...(codec ? { codec } : {}),
      ...(viewPassword ? { viewPassword } : {}),
    });
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
    Object.assign(window, { lancast: { broadcaster } });
  } catch (err) {
    showError(mediaError(err));
    setState('error');
    // The pickers show what this machine has even when opening failed, so another can be chosen.
    await listDevices().catch(() => undefined);
  }
}

function stop(): void {
  broadcaster?.stop();
  broadcaster = undefined;
  // Not live: no mode, no upload rate, nobody watching.
  setPart(viewerCount, t(lang, 'watching', { n: 0 }));
  setPart(modeLine, '');
  setPart(uplink, '');
  setState('idle');
}

async function changeDevice(): Promise<void> {
  try {
    const media = await openDevices();
    await broadcaster?.replaceStream(media);
    showError(undefined);
  } catch (err) {
    showError(mediaError(err));
  }
  await listDevices().catch(() => undefined);
}

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
cameraSelect.addEventListener('change', () => void changeDevice());
micSelect.addEventListener('change', () => void changeDevice());
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

setState('idle');
void shareLink();
if (!window.isSecureContext || !navigator.mediaDevices) {
  showError(t(lang, 'errInsecure'));
  setState('error');
} else if (params.get('autostart') === '1') {
  void start();
} else {
  // Show the camera and fill the pickers straight away; going live is one click.
  openDevices()
    .catch((err) => showError(mediaError(err)))
    .finally(() => void listDevices().catch(() => undefined));
}
