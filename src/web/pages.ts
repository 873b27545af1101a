/**
 * The three pages, rendered on the server in the browser's language. They are skeletons: the
 * page scripts (`src/web/*-page.ts`, bundled to /assets) bring them to life. Everything that
 * came from a user is escaped here and set with textContent in the scripts.
 */
import { MUTED_ICON } from './icons.js';
import { t, type Lang, type StringKey } from './strings.js';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

let assetVersions: ReadonlyMap<string, string> = new Map();

/**
 * Content hashes of the bundled scripts and styles, set once by the app: pages link
 * `/assets/<name>?v=<hash>`, which browsers may keep for good (a new build changes the hash), so a
 * page opened again runs its script without fetching anything but itself.
 */
export function useAssetVersions(versions: ReadonlyMap<string, string>): void {
  assetVersions = versions;
}

function assetUrl(name: string): string {
  const version = assetVersions.get(name);
  return `/assets/${name}${version ? `?v=${version}` : ''}`;
}

interface Shell {
  lang: Lang;
  title: string;
  script?: string;
  /**
   * A small inline script run while the page's bundle still loads. It comes before the stylesheet:
   * a script after a stylesheet that is still loading waits for it (~20-30 ms on loopback).
   */
  early?: string;
  state?: string;
  body: string;
}

function shell({ lang, title, script, early, state, body }: Shell): string {
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · lancast</title>
${early ? `<script>${early}</script>` : ''}
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assetUrl('style.css')}">
${script ? `<script type="module" src="${assetUrl(`${script}.js`)}"></script>` : ''}
</head>
<body${state ? ` data-state="${state}"` : ''}>
<header><a class="brand" href="/">lancast</a><span class="tagline">${t(lang, 'tagline')}</span></header>
<main>
${body}
</main>
</body>
</html>
`;
}

export function lobbyPage(lang: Lang): string {
  const s = (k: StringKey) => t(lang, k);
  return shell({
    lang,
    title: s('lobbyTitle'),
    script: 'lobby',
    body: `<section>
<h1>${s('lobbyTitle')}</h1>
<ul id="rooms" class="rooms" aria-live="polite"></ul>
<p id="rooms-empty" class="muted">${s('lobbyEmpty')}</p>
<p id="rooms-error" class="error" hidden>${s('lobbyLoadError')}</p>
</section>
<section>
<h2>${s('lobbyStartTitle')}</h2>
<form id="start-form" class="stack">
<label>${s('lobbyRoom')} <input name="room" value="main" required maxlength="64" pattern="[\\p{L}\\p{N}_\\-]{1,64}" title="${s('lobbyRoomHint')}"></label>
<label>${s('lobbyKey')} <input name="key" type="password" autocomplete="off" placeholder="${s('keyHint')}"></label>
<button type="submit">${s('lobbyGo')}</button>
</form>
</section>`,
  });
}

export function broadcastPage(lang: Lang, room: string): string {
  const s = (k: StringKey) => t(lang, k);
  const r = escapeHtml(room);
  return shell({
    lang,
    title: t(lang, 'broadcastTitle', { room }),
    script: 'broadcast',
    state: 'idle',
    body: `<h1>${t(lang, 'broadcastTitle', { room: `<span id="room-name">${r}</span>` })}</h1>
<div class="grid">
<div>
<video id="preview" data-testid="local-video" autoplay muted playsinline></video>
<p id="status" class="status" role="status">${s('bStateIdle')}</p>
<p id="error" class="error" role="alert" hidden></p>
<p id="source-status" class="muted" role="status"></p>
<p class="stats"><span id="viewer-count" data-testid="viewer-count">0</span><span id="mode"></span><span id="uplink"></span></p>
<p class="muted"><span id="sending" data-testid="sending"></span></p>
</div>
<form id="controls" class="stack">
<fieldset id="source" class="choices"><legend>${s('source')}</legend>
<label><input type="radio" name="source" value="camera" checked> ${s('sourceCamera')}</label>
<label><input type="radio" name="source" value="screen"> ${s('sourceScreen')}</label>
<label><input type="radio" name="source" value="screen+camera"> ${s('sourceScreenCamera')}</label>
</fieldset>
<button id="share-screen" type="button" class="primary" hidden>${s('shareScreen')}</button>
<label>${s('camera')} <select id="camera"></select></label>
<label>${s('microphone')} <select id="microphone"></select></label>
<label class="check"><input id="screen-audio" type="checkbox" checked> ${s('screenAudio')}</label>
<label>${s('preset')} <select id="preset">${(['auto', 'text', 'motion', 'camera', 'saver'] as const).map((p) => `<option value="${p}">${s(`preset_${p}`)}</option>`).join('')}</select></label>
<label>${s('publishKey')} <input id="key" type="password" autocomplete="off" placeholder="${s('keyHint')}"></label>
<label>${s('roomPassword')} <input id="view-password" type="password" autocomplete="off" placeholder="${s('roomPasswordHint')}"></label>
<div class="row"><button id="start" type="submit">${s('start')}</button><button id="stop" type="button" disabled>${s('stop')}</button></div>
<label>${s('watchLink')} <span class="row"><input id="watch-url" readonly><button id="copy" type="button">${s('copy')}</button></span></label>
<img id="qr" class="qr" alt="${s('qrAlt')}" width="180" height="180">
</form>
</div>`,
  });
}

/**
 * The watch page opens its signaling socket and joins from the page's head, so the server's
 * welcome (and the relay's offer) are already there when the bundle has loaded, instead of a
 * round trip after it. The page script adopts the socket (src/client/signaling-client.ts) when it
 * was opened for the same join, and replays what it received; otherwise it closes it.
 */
export function earlySocketScript(room: string): string {
  const json = JSON.stringify(room).replace(/</g, '\\u003c');
  return `(()=>{try{const r=${json},q=new URLSearchParams(location.search),p=q.get('password')??sessionStorage.getItem('lancast:password:'+r)??undefined,j=JSON.stringify({type:'join',role:'viewer',room:r,...(p?{password:p}:{})}),u=(location.protocol==='https:'?'wss:':'ws:')+'//'+location.host+'/ws',w=new WebSocket(u),e={ws:w,url:u,join:j,messages:[]};w.onopen=()=>w.send(j);w.onmessage=(m)=>e.messages.push(m.data);window.__lancastEarlySocket=e}catch{}})();`;
}

export function watchPage(lang: Lang, room: string): string {
  const s = (k: StringKey) => t(lang, k);
  return shell({
    lang,
    title: t(lang, 'watchTitle', { room }),
    script: 'watch',
    early: earlySocketScript(room),
    state: 'connecting',
    body: `<div class="player">
<video id="video" data-testid="remote-video" autoplay playsinline></video>
<div id="overlay" class="overlay" role="status">${s('vConnecting')}</div>
<button id="unmute" class="unmute" type="button" hidden>${MUTED_ICON}<span>${s('unmute')}</span></button>
</div>
<div class="row between">
<p id="watch-line"><strong>${escapeHtml(room)}</strong><span id="viewer-count"></span><span id="stats" class="muted"></span></p>
<p class="row wrap" role="group" aria-label="${s('playerControls')}"><button id="fullscreen" type="button">${s('fullscreen')}</button><button id="fill" type="button" aria-pressed="false">${s('fill')}</button><button id="pip" type="button" hidden>${s('pip')}</button><label id="quality-menu" hidden>${s('quality')} <select id="quality" data-testid="quality"><option value="auto">${s('qualityAuto')}</option></select></label><span id="quality-why" class="muted" data-testid="quality-why"></span><a href="/">${s('backToLobby')}</a></p>
</div>
<form id="password-form" class="stack" hidden>
<label>${s('password')} <input id="password" type="password" autocomplete="off"></label>
<button type="submit">${s('passwordSubmit')}</button>
</form>`,
  });
}

export function errorPage(lang: Lang, status: number, message: string): string {
  return shell({
    lang,
    title: String(status),
    body: `<h1 class="message">${escapeHtml(message)}</h1><p class="muted">${status}</p><p><a href="/">${t(lang, 'backToLobby')}</a></p>`,
  });
}
