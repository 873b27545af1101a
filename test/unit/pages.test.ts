import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { broadcastPage, errorPage, escapeHtml, lobbyPage, watchPage } from '../../src/web/pages.js';

const EVIL = `"><img src=x onerror=alert(1)><script>alert('x')</script>&`;

describe('escapeHtml', () => {
  test('escapes each character that could start markup or end an attribute', () => {
    assert.equal(escapeHtml('&'), '&#38;');
    assert.equal(escapeHtml('<'), '&#60;');
    assert.equal(escapeHtml('>'), '&#62;');
    assert.equal(escapeHtml('"'), '&#34;');
    assert.equal(escapeHtml("'"), '&#39;');
    assert.equal(escapeHtml('<img src=x onerror="a(\'1\')">&'), '&#60;img src=x onerror=&#34;a(&#39;1&#39;)&#34;&#62;&#38;');
  });

  test('leaves other text alone, including other scripts', () => {
    for (const text of ['main', 'room_1-b', '直播间', 'a b c', '']) assert.equal(escapeHtml(text), text);
  });

  test('escapes text that already looks escaped (it is text, not markup)', () => {
    assert.equal(escapeHtml('&#60;'), '&#38;#60;');
  });
});

describe('pages', () => {
  test('a room name shows escaped wherever a page puts it, title included', () => {
    for (const html of [watchPage('en', EVIL), broadcastPage('en', EVIL), watchPage('zh-CN', EVIL)]) {
      assert.doesNotMatch(html, /<img src=x|<script>alert|onerror="/);
      assert.ok(html.includes(escapeHtml(EVIL)));
      assert.match(html, /<title>[^<]*&#60;img[^<]*<\/title>/);
    }
  });

  test('an error page escapes its message', () => {
    const html = errorPage('en', 400, EVIL);
    assert.doesNotMatch(html, /<img src=x|<script>alert/);
    assert.match(html, /<title>400 · lancast<\/title>/);
    assert.match(html, /<a href="\/">All rooms<\/a>/, 'a way back to the lobby');
  });

  test('the watch page carries the contract: remote video, body state, language', () => {
    const html = watchPage('en', 'main');
    assert.match(html, /<video id="video" data-testid="remote-video" autoplay playsinline>/);
    assert.match(html, /<body data-state="connecting">/);
    assert.match(html, /<html lang="en">/);
    assert.match(html, /<script type="module" src="\/assets\/watch\.js"><\/script>/);
  });

  test('the watch page opens its socket before anything can hold its head script up', () => {
    const html = watchPage('en', 'main');
    const early = html.indexOf('__lancastEarlySocket');
    assert.ok(early > 0);
    assert.ok(early < html.indexOf('<link rel="stylesheet"'), 'the inline script comes before the stylesheet');
  });

  test('pages are rendered in the language asked for', () => {
    assert.match(watchPage('zh-CN', 'main'), /<html lang="zh-CN">[\s\S]*正在连接…/);
    assert.match(broadcastPage('zh-CN', 'main'), /开始直播/);
    assert.match(lobbyPage('zh-CN'), /正在直播/);
    assert.doesNotMatch(watchPage('zh-CN', 'main'), /Connecting…|Full screen/);
    assert.match(lobbyPage('en'), /Live now/);
  });
});
