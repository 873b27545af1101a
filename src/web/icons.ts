/**
 * Icons as inline SVG, drawn with the text colour: an emoji needs an emoji font, and where none is
 * installed (many Linux desktops, kiosks) it shows as an empty box.
 */
const svg = (body: string) =>
  `<svg class="icon" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" focusable="false">${body}</svg>`;

/** A speaker with a cross: sound is off. */
export const MUTED_ICON = svg('<path d="M11 5 6 9H2v6h4l5 4z" fill="currentColor"/><path d="m22 9-6 6M16 9l6 6"/>');

/** A padlock: the room needs a password. */
export const LOCK_ICON = svg('<rect x="4" y="11" width="16" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>');
