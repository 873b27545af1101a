/**
 * Headless Chromium plays sound without a click whatever --autoplay-policy says (checked with no
 * flag, user-gesture-required and document-user-activation-required; it also reports the page as
 * activated after a navigation); the browsers people use refuse it until the person has clicked or
 * typed in the page. Given to `BrowserContext.addInitScript`, this makes play() with sound refuse
 * as they do, so the watch page meets the refusal its Unmute button is for. Media is untouched.
 */
export const AUTOPLAY_AS_BROWSERS_DO = `(() => {
  let clicked = false;
  for (const type of ['pointerdown', 'keydown']) addEventListener(type, (e) => { if (e.isTrusted) clicked = true; }, true);
  const play = HTMLMediaElement.prototype.play;
  HTMLMediaElement.prototype.play = function () {
    if (!this.muted && !clicked) return Promise.reject(new DOMException('play() with sound needs a click', 'NotAllowedError'));
    return play.call(this);
  };
})()`;
