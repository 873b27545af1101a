/**
 * The broadcast page's Record button: starts and stops the server's recording of the room
 * (POST/DELETE /api/rooms/<room>/recording with the publish key) and shows, while it runs, the time
 * and size written, or why it stopped (a full disk: the live stream goes on). A recording started
 * elsewhere (the API, --record) shows here too once the page has a key the server accepted.
 * Self-contained: it adds its own elements after `anchor`.
 */
import { t, type Lang } from './strings.js';

interface Status {
  state: 'waiting' | 'recording' | 'failed';
  seconds: number;
  bytes: number;
  error?: string;
}

const clock = (seconds: number) => {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};
const size = (bytes: number) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`);

export function mountRecordControl(lang: Lang, room: string, key: () => string, anchor: Element): void {
  const box = document.createElement('div');
  box.className = 'record';
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset.testid = 'record';
  button.textContent = t(lang, 'recStart');
  const status = document.createElement('span');
  status.dataset.testid = 'record-status';
  status.setAttribute('role', 'status');
  const note = document.createElement('p');
  note.className = 'muted';
  note.hidden = true;
  note.textContent = t(lang, 'recRelay');
  const list = document.createElement('a');
  list.href = '/recordings';
  list.textContent = t(lang, 'recList');
  box.append(button, ' ', status, ' ', list, note);
  anchor.after(box);

  const url = `/api/rooms/${encodeURIComponent(room)}/recording`;
  let current: Status | undefined;
  let keyAccepted = false;
  let timer: number | undefined;

  const show = () => {
    button.textContent = t(lang, current && current.state !== 'failed' ? 'recStop' : 'recStart');
    button.dataset.recording = String(Boolean(current && current.state !== 'failed'));
    note.hidden = !current || current.state === 'failed';
    status.className = current?.state === 'failed' ? 'error' : '';
    if (!current) status.textContent = '';
    else if (current.state === 'failed') {
      // The server says why in English; the reason it gives most often has its own words here.
      const error = current.error === 'the disk is full' ? t(lang, 'recDiskFull') : (current.error ?? '');
      status.textContent = t(lang, 'recFailed', { error });
    }
    else if (current.state === 'waiting') status.textContent = t(lang, 'recWaiting');
    else status.textContent = t(lang, 'recOn', { time: clock(current.seconds), size: size(current.bytes) });
  };

  const call = async (method: 'GET' | 'POST' | 'DELETE'): Promise<void> => {
    const res = await fetch(url, { method, headers: { authorization: `Bearer ${key()}` } }).catch(() => undefined);
    if (!res) return;
    if (res.status === 401 || res.status === 429) {
      keyAccepted = false;
      if (method !== 'GET') status.textContent = t(lang, res.status === 401 ? 'recBadKey' : 'errAttempts', { seconds: res.headers.get('retry-after') ?? '' });
      return;
    }
    keyAccepted = true;
    const body = res.ok ? ((await res.json()) as Status) : undefined;
    // A stopped recording's last word: nothing is recording now.
    current = method === 'DELETE' || !body ? undefined : body;
    show();
  };

  const poll = () => {
    clearTimeout(timer);
    timer = window.setTimeout(async () => {
      if (keyAccepted && key()) await call('GET');
      poll();
    }, current ? 1_000 : 3_000);
  };

  button.onclick = async () => {
    button.disabled = true;
    await call(current && current.state !== 'failed' ? 'DELETE' : 'POST');
    button.disabled = false;
    poll();
  };
  // One look at the start (a recording may already run); polling only with a key that worked,
  // so a wrong key typed in the page does not use up the address's attempts.
  if (key()) void call('GET').then(poll);
}
