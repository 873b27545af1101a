/** Small DOM helpers shared by the page scripts. */
export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`lancast: page has no #${id}`);
  return el as T;
}

/** `/watch/<room>` or `/broadcast/<room>` -> room. */
export function roomFromPath(): string {
  return decodeURIComponent(location.pathname.split('/')[2] || 'main');
}
