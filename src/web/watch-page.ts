/** /watch/<room>: plays by itself, says what is happening, resumes by itself. */
import { Viewer, type ViewerState } from '../client/viewer.js';
import { formatRate, inboundSummary } from './stats.js';
import { t, type Lang, type StringKey } from './strings.js';
import { $, roomFromPath, setPart } from './dom.js';

const lang = document.documentElement.lang as Lang;
const room = roomFromPath();
const params = new URLSearchParams(location.search);

const video = $<HTMLVideoElement>('video');
// The player plays one stream of the page's own, whose tracks follow the viewer's connection.
// Moving tracks in place keeps the element playing through a switch of connection (p2p to
// relay and back, a reconnect): given another stream, it loaded again from nothing, which froze
// the picture 300-1,500 ms on a busy machine.
const shown = new MediaStream();
const overlay = $('overlay');
const unmute = $<HTMLButtonElement>('unmute');
const viewerCount = $('viewer-count');
const statsLine = $('stats');
const passwordForm = $<HTMLFormElement>('password-form');
const passwordInput = $<HTMLInputElement>('password');
const fullscreen = $<HTMLButtonElement>('fullscreen');
const fill = $<HTMLButtonElement>('fill');
const pip = $<HTMLButtonElement>('pip');
const player = video.parentElement!;
const qualityMenu = $('quality-menu');
const quality = $<HTMLSelectElement>('quality');
const qualityWhy = $('quality-why');

const storedPassword = sessionStorage.getItem(`lancast:password:${room}`) ?? undefined;
/** The password the current join carries, if any: none tried yet means "needs one", not "wrong". */
let triedPassword = params.get('password') ?? storedPassword;
const viewer = new Viewer({ room, password: triedPassword });
let hasFrame = false;
let errorText: string | undefined;
/** The server refused us for want of the right password: the form shows until a join succeeds. */
let needPassword = false;
/** The signaling socket is down: the status line says so instead of the stream's figures. */
let lostServer = false;
/** The browser refused to play with sound: the picture plays muted until a click on Unmute. */
let mutedByBrowser = false;
/** When the picture last moved; a live stream that stops moving is shown as reconnecting. */
let lastFrameAt = 0;
let stalled = false;
const STALL_MS = 2_500;

const STATE_TEXT: Record<ViewerState, StringKey> = {
  connecting: 'vConnecting',
  waiting: 'vWaiting',
  live: 'vLive',
  offline: 'vOffline',
  error: 'vError',
};

function render(): void {
  const state = viewer.state === 'live' && (!hasFrame || stalled) ? 'connecting' : viewer.state;
  document.body.dataset.state = state;
  overlay.textContent =
    state === 'error' && errorText ? errorText : stalled && viewer.state === 'live' ? t(lang, 'vStalled') : t(lang, STATE_TEXT[state]);
  overlay.hidden = state === 'live';
  fullscreen.disabled = state !== 'live';
  pip.disabled = state !== 'live';
  // Over the picture only while there is one: not over "ended" or "waiting".
  unmute.hidden = !(mutedByBrowser && state === 'live');
  // Only while refused for the password: gone while a retry connects and once the room opens.
  passwordForm.hidden = !(needPassword && viewer.state === 'error');
}

// Watch the picture itself: frames presented, not just a connection that claims to be up.
const onPresented = () => {
  lastFrameAt = performance.now();
  if (stalled) {
    stalled = false;
    render();
  }
  video.requestVideoFrameCallback?.(onPresented);
};
video.requestVideoFrameCallback?.(onPresented);
setInterval(() => {
  const hasVideo = (video.srcObject as MediaStream | null)?.getVideoTracks().length;
  const now = performance.now();
  if (!document.hidden && !stalled && hasFrame && hasVideo && viewer.state === 'live' && lastFrameAt > 0 && now - lastFrameAt > STALL_MS) {
    stalled = true;
    render();
  }
}, 500);

async function play(): Promise<void> {
  video.muted = mutedByBrowser;
  try {
    await video.play();
  } catch {
    // Autoplay with sound was refused: play muted and offer a button.
    video.muted = true;
    mutedByBrowser = true;
    render();
    await video.play().catch(() => undefined);
  }
}

viewer.on('state', (state) => {
  if (state === 'waiting' || state === 'live' || state === 'offline') needPassword = false;
  // The stream's figures describe a stream that plays; no stale ones after it stops.
  if (state !== 'live' && !lostServer) setPart(statsLine, '');
  if (state === 'offline' || state === 'waiting' || state === 'error') {
    hasFrame = false;
    video.srcObject = null;
    for (const track of shown.getTracks()) shown.removeTrack(track);
  }
  render();
});
viewer.on('stream', (stream) => {
  const next = stream.getTracks();
  // The new tracks first, then the old ones out: the element always has a picture to show.
  for (const track of next) if (!shown.getTracks().includes(track)) shown.addTrack(track);
  for (const track of shown.getTracks()) if (!next.includes(track)) shown.removeTrack(track);
  if (video.srcObject !== shown) video.srcObject = shown;
  void play();
});
viewer.on('room', (status) => {
  setPart(viewerCount, status.live ? t(lang, 'watching', { n: status.viewers }) : '');
});
viewer.on('error', (err) => {
  if (err.code === 'bad-password') {
    errorText = t(lang, triedPassword ? 'errBadPassword' : 'errNeedPassword');
    needPassword = true;
  } else if (err.code === 'room-full') {
    errorText = t(lang, 'errRoomFull');
  } else if (err.code === 'too-many-attempts') {
    errorText = t(lang, 'errAttempts', { seconds: Math.ceil((err.retryAfterMs ?? 0) / 1000) });
    needPassword = true;
  } else if (err.code === 'unsupported-codec') {
    errorText = t(lang, 'errCodec', { codec: err.message });
  } else if (err.code === 'bad-room') {
    errorText = t(lang, 'errBadRoom');
  } else {
    errorText = t(lang, 'errServer', { message: err.message });
  }
  render();
  if (needPassword) passwordInput.focus();
});
viewer.on('reconnecting', (lost) => {
  lostServer = lost;
  setPart(statsLine, lost ? t(lang, 'reconnecting') : '');
});

const onFrame = () => {
  if (video.videoWidth > 0 && !hasFrame) {
    hasFrame = true;
    viewer.timeline['first-frame'] ??= Math.round(performance.now());
    render();
  }
};
video.addEventListener('loadeddata', onFrame);
video.addEventListener('resize', onFrame);
video.addEventListener('playing', onFrame);

unmute.addEventListener('click', () => {
  video.muted = false;
  mutedByBrowser = false;
  render();
  void video.play();
});
fullscreen.addEventListener('click', async () => {
  try {
    await video.requestFullscreen();
  } catch {
    return;
  }
  // A phone turns sideways for a wide picture, where the browser lets a page lock it.
  if (video.videoWidth > video.videoHeight) await orientation()?.lock?.('landscape').catch(() => undefined);
});
document.addEventListener('fullscreenchange', () => {
  if (document.fullscreenElement) return;
  try {
    orientation()?.unlock?.();
  } catch {
    // not locked, or not lockable
  }
});

/** screen.orientation with lock(), which TypeScript's DOM types no longer list. */
function orientation(): { lock?(o: string): Promise<void>; unlock?(): void } | undefined {
  return (screen as unknown as { orientation?: { lock?(o: string): Promise<void>; unlock?(): void } }).orientation;
}

// The picture keeps its own shape (a 4:3 camera, a 16:10 screen), so a screen is shown whole.
video.addEventListener('resize', () => {
  if (!video.videoWidth || !video.videoHeight) return;
  video.style.aspectRatio = `${video.videoWidth} / ${video.videoHeight}`;
  // Not taller than the window: the width follows (see .player video in style.css).
  video.style.setProperty('--ratio', String(video.videoWidth / video.videoHeight));
  tellShown();
});

// The relay sends no larger layer than the player shows (a phone's small player, a small window;
// full screen climbs back to the top): it is told how tall the picture shows, in device pixels.
let shownTimer: ReturnType<typeof setTimeout> | undefined;
function measureShown(): void {
  const box = video.getBoundingClientRect();
  if (box.width <= 0 || box.height <= 0) return;
  const { videoWidth: w, videoHeight: h } = video;
  // Fit shows the whole picture inside the box, fill covers the box with it (cropped); before the first frame, the box.
  const fit = (player.classList.contains('fill') ? Math.max : Math.min)(box.width / w, box.height / h);
  viewer.setShownHeight((w > 0 && h > 0 ? h * fit : box.height) * devicePixelRatio);
}
function tellShown(): void {
  clearTimeout(shownTimer);
  shownTimer = setTimeout(measureShown, 300);
}
new ResizeObserver(() => tellShown()).observe(video);
window.addEventListener('resize', () => tellShown());

/** Fit (the whole picture, the default) or fill (cropped to the frame); kept for next time. */
function setFill(on: boolean): void {
  player.classList.toggle('fill', on);
  fill.setAttribute('aria-pressed', String(on));
  tellShown();
}
setFill(localStorage.getItem('lancast:fill') === '1');
fill.addEventListener('click', () => {
  const on = !player.classList.contains('fill');
  setFill(on);
  localStorage.setItem('lancast:fill', on ? '1' : '0');
});

pip.hidden = !document.pictureInPictureEnabled;
pip.addEventListener('click', () => {
  const done = document.pictureInPictureElement ? document.exitPictureInPicture() : video.requestPictureInPicture();
  void done.catch(() => undefined);
});
passwordForm.addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(`lancast:password:${room}`, passwordInput.value);
  triedPassword = passwordInput.value;
  errorText = undefined;
  viewer.retry(passwordInput.value);
});

// The relay's simulcast layers: Auto (the default) or one by its height; the line beside says
// which plays and why.
let layerHeights = '';
viewer.on('quality', (status) => {
  const heights = status.layers.filter((h) => h > 0);
  qualityMenu.hidden = heights.length < 2;
  const key = heights.join(',');
  if (key !== layerHeights) {
    layerHeights = key;
    const chosen = quality.value;
    quality.replaceChildren(new Option(t(lang, 'qualityAuto'), 'auto'), ...[...heights].reverse().map((h) => new Option(`${h}p`, String(h))));
    quality.value = [...quality.options].some((o) => o.value === chosen) ? chosen : 'auto';
  }
  qualityWhy.textContent = status.height > 0 && !qualityMenu.hidden ? `${status.height}p · ${t(lang, `qualityPlaying_${status.reason}`)}` : '';
});
quality.addEventListener('change', () => {
  viewer.setQuality(quality.value === 'auto' ? 'auto' : Number(quality.value));
});

let lastBytes: { pc: RTCPeerConnection; bytes: number; at: number } | undefined;
setInterval(async () => {
  const pc = viewer.peerConnection;
  if (!pc || viewer.state !== 'live') return;
  const s = inboundSummary(await pc.getStats());
  // A rate needs two samples of the same connection (a new one, p2p to relay, counts from zero).
  const rate = lastBytes?.pc === pc ? ((s.bytes - lastBytes.bytes) * 8) / ((s.at - lastBytes.at) / 1000) : undefined;
  lastBytes = { pc, bytes: s.bytes, at: s.at };
  const parts = [`${s.width}×${s.height}`, `${Math.round(s.fps)}\u00a0fps`, ...(rate === undefined ? [] : [formatRate(rate)])];
  if (s.width && !lostServer) setPart(statsLine, parts.join(' · '));
}, 1_000);

render();
// Known before the first connection, so a small player's first frames are already the layer it needs.
measureShown();
viewer.timeline.script = Math.round(performance.now());
viewer.start();
// For tests and the curious: the live objects behind the page.
Object.assign(window, { lancast: { viewer, video } });
