/** `/`: who is live, and a form to start broadcasting. */
import { $ } from './dom.js';
import { LOCK_ICON } from './icons.js';
import { t, type Lang } from './strings.js';

const lang = document.documentElement.lang as Lang;
const list = $('rooms');
const empty = $('rooms-empty');
const errorLine = $('rooms-error');

interface RoomInfo {
  name: string;
  live: boolean;
  viewers: number;
  mode: string;
  protected?: boolean;
}

async function refresh(): Promise<void> {
  try {
    const res = await fetch('/api/rooms', { cache: 'no-store' });
    const { rooms } = (await res.json()) as { rooms: RoomInfo[] };
    errorLine.hidden = true;
    const live = rooms.filter((r) => r.live);
    list.replaceChildren(
      ...live.map((room) => {
        const item = document.createElement('li');
        const link = document.createElement('a');
        link.href = `/watch/${encodeURIComponent(room.name)}`;
        link.textContent = room.name; // never innerHTML: names come from users
        const count = document.createElement('span');
        count.className = 'muted';
        if (room.protected) {
          count.textContent = ' · ';
          // A constant of ours, not user text.
          count.insertAdjacentHTML('beforeend', LOCK_ICON);
          count.append(` ${t(lang, 'lobbyProtected')}`);
        } else {
          count.textContent = ` · ${t(lang, 'watching', { n: room.viewers })} · ${room.mode}`;
        }
        item.append(link, count);
        return item;
      }),
    );
    empty.hidden = live.length > 0;
  } catch {
    errorLine.hidden = false;
  }
}

$<HTMLFormElement>('start-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target as HTMLFormElement);
  const text = (name: string) => {
    const value = form.get(name);
    return typeof value === 'string' ? value : '';
  };
  const room = text('room').trim() || 'main';
  const key = text('key');
  location.href = `/broadcast/${encodeURIComponent(room)}${key ? `?key=${encodeURIComponent(key)}` : ''}`;
});

void refresh();
setInterval(refresh, 2_000);
