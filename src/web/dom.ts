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

/**
 * Set one part of a status line (an element among its siblings) and put " · " between the parts
 * that have text, and only there: an empty part leaves no stray separator behind.
 */
export function setPart(part: HTMLElement, text: string): void {
  part.textContent = text;
  const line = part.parentElement;
  if (!line) return;
  for (const sep of line.querySelectorAll(':scope > .sep')) sep.remove();
  const filled = [...line.children].filter((el) => el.textContent?.trim());
  for (const el of filled.slice(1)) {
    const sep = document.createElement('span');
    sep.className = 'sep';
    sep.textContent = ' · ';
    el.before(sep);
  }
}
