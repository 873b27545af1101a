/**
 * /recordings: the recording files, behind the publish key. The page is one small skeleton with
 * an inline script (it needs nothing bundled): it asks for the key (or takes `?key=`), lists the
 * files from GET /api/recordings, and plays, downloads or deletes them. Names come from the
 * server's list and are set with textContent.
 */
import { escapeHtml } from './pages.js';
import { STRINGS, type Lang } from './strings.js';

const KEYS = [
  'recTitle', 'recKey', 'recShow', 'recEmpty', 'recRoom', 'recStarted', 'recDuration', 'recSize',
  'recPlay', 'recDownload', 'recDelete', 'recBadKey', 'recNow', 'recLoadError', 'tagline',
] as const;

/** Runs in the browser: `s` holds the page's words. */
function main(s: Record<(typeof KEYS)[number], string>): void {
  const form = document.getElementById('key-form') as HTMLFormElement;
  const input = form.elements.namedItem('key') as HTMLInputElement;
  const table = document.getElementById('files') as HTMLTableElement;
  const body = table.tBodies[0];
  const note = document.getElementById('note')!;
  const player = document.getElementById('player') as HTMLVideoElement;
  input.value = new URLSearchParams(location.search).get('key') ?? sessionStorage.getItem('lancast-key') ?? '';
  const clock = (seconds: number | null) => {
    if (seconds === null) return '—';
    const t = Math.round(seconds);
    return `${Math.floor(t / 3600) ? `${Math.floor(t / 3600)}:` : ''}${String(Math.floor(t / 60) % 60).padStart(2, '0')}:${String(t % 60).padStart(2, '0')}`;
  };
  const size = (bytes: number) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`);
  const say = (text: string, error = false) => {
    note.textContent = text;
    note.className = error ? 'error' : 'muted';
    note.hidden = !text;
  };
  interface Item { file: string; room: string; startedAt: number; duration: number | null; bytes: number; recording: boolean; url: string }
  async function load(): Promise<void> {
    const key = input.value.trim();
    const res = await fetch('/api/recordings', { headers: { authorization: `Bearer ${key}` } }).catch(() => undefined);
    if (!res || !res.ok) {
      table.hidden = true;
      document.body.dataset.state = 'error';
      return say(res && (res.status === 401 || res.status === 429) ? s.recBadKey : s.recLoadError, true);
    }
    sessionStorage.setItem('lancast-key', key);
    const { recordings } = (await res.json()) as { recordings: Item[] };
    body.replaceChildren();
    for (const r of recordings) {
      const row = body.insertRow();
      row.dataset.file = r.file;
      const cell = (text: string) => (row.insertCell().textContent = text);
      cell(r.room);
      cell(new Date(r.startedAt).toLocaleString());
      cell(r.recording ? `${clock(r.duration)} · ${s.recNow}` : clock(r.duration));
      cell(size(r.bytes));
      const actions = row.insertCell();
      const play = document.createElement('button');
      play.textContent = s.recPlay;
      play.onclick = () => {
        player.hidden = false;
        player.src = r.url;
        void player.play().catch(() => undefined);
      };
      const download = document.createElement('a');
      download.textContent = s.recDownload;
      download.href = `${r.url}&download=1`;
      download.download = r.file;
      const remove = document.createElement('button');
      remove.textContent = s.recDelete;
      remove.disabled = r.recording;
      remove.onclick = async () => {
        await fetch(`/api/recordings/${encodeURIComponent(r.file)}`, { method: 'DELETE', headers: { authorization: `Bearer ${key}` } });
        await load();
      };
      actions.append(play, ' ', download, ' ', remove);
    }
    table.hidden = recordings.length === 0;
    document.body.dataset.state = 'ready';
    say(recordings.length === 0 ? s.recEmpty : '');
  }
  form.onsubmit = (event) => {
    event.preventDefault();
    void load();
  };
  if (input.value) void load();
}

export function recordingsPage(lang: Lang): string {
  const s = Object.fromEntries(KEYS.map((k) => [k, STRINGS[lang][k]])) as Record<(typeof KEYS)[number], string>;
  const h = (k: (typeof KEYS)[number]) => escapeHtml(s[k]);
  // JSON inside a script: '<' escaped so no string can close the element.
  const words = JSON.stringify(s).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${h('recTitle')} · lancast</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
</head>
<body data-state="locked">
<header><a class="brand" href="/">lancast</a><span class="tagline">${h('tagline')}</span></header>
<main>
<section>
<h1>${h('recTitle')}</h1>
<form id="key-form" class="stack">
<label>${h('recKey')} <input name="key" type="password" autocomplete="off" required></label>
<button type="submit">${h('recShow')}</button>
</form>
<p id="note" class="muted" hidden></p>
<table id="files" hidden>
<thead><tr><th>${h('recRoom')}</th><th>${h('recStarted')}</th><th>${h('recDuration')}</th><th>${h('recSize')}</th><th></th></tr></thead>
<tbody></tbody>
</table>
<video id="player" controls hidden playsinline style="max-width:100%"></video>
</section>
</main>
<script type="module">(${main.toString()})(${words});</script>
</body>
</html>
`;
}
