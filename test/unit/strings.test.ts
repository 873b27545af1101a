import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { modeReason, parseAcceptLanguage, pickLang, STRINGS, t, type StringKey } from '../../src/web/strings.js';

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('strings', () => {
  test('every sentence exists in English and in Simplified Chinese, and none is empty', () => {
    const en = Object.keys(STRINGS.en).sort();
    assert.deepEqual(Object.keys(STRINGS['zh-CN']).sort(), en);
    for (const key of en as StringKey[]) {
      assert.ok(STRINGS.en[key].trim().length > 0, `en ${key}`);
      assert.ok(STRINGS['zh-CN'][key].trim().length > 0, `zh-CN ${key}`);
    }
  });

  test('each Chinese sentence is written in Chinese, not left in English', () => {
    for (const [key, text] of Object.entries(STRINGS['zh-CN'])) {
      assert.match(text, /\p{Script=Han}/u, `zh-CN ${key}: ${text}`);
      assert.notEqual(text, STRINGS.en[key as StringKey], key);
    }
  });

  test('Chinese sentences use full-width commas, colons and brackets next to Chinese text', () => {
    for (const [key, text] of Object.entries(STRINGS['zh-CN'])) {
      assert.doesNotMatch(text, /\p{Script=Han}[,:()]|[,:(](?!\/\/)\s*\p{Script=Han}/u, `zh-CN ${key}: ${text}`);
    }
  });

  test('both languages have the same placeholders in each sentence', () => {
    for (const key of Object.keys(STRINGS.en) as StringKey[]) {
      assert.deepEqual(placeholders(STRINGS['zh-CN'][key]), placeholders(STRINGS.en[key]), key);
    }
  });

  test('t fills placeholders, in both languages', () => {
    assert.equal(t('en', 'watching', { n: 3 }), '3 watching');
    assert.equal(t('zh-CN', 'watching', { n: 3 }), '3 人观看');
    assert.equal(t('en', 'errAttempts', { seconds: 8 }), 'Too many wrong attempts. Wait 8 seconds, then try again.');
    assert.equal(t('en', 'errServer', { message: 'no' }), 'The server refused: no');
    assert.equal(t('en', 'watching'), ' watching', 'a missing value leaves no {n} behind');
  });
});

describe('modeReason', () => {
  // Every explanation the server gives for a room's mode, read from its source, numbers filled in.
  const source = ['hub.ts', 'room.ts', 'mode-policy.ts'].map((f) => readFileSync(new URL(`../../src/signaling/${f}`, import.meta.url), 'utf8')).join('\n');
  const reasons = [...source.matchAll(/['`]((?:peer to peer|relay): [^'`]*|server shutting down)['`]/g)].map((m) => m[1].replace(/\$\{\w+\}/g, '4'));

  test('the server gives reasons and each reads in Chinese on a Chinese page', () => {
    assert.ok(reasons.length >= 8, `found ${reasons.length} reasons`);
    for (const reason of reasons) {
      const zh = modeReason('zh-CN', reason);
      assert.match(zh, /\p{Script=Han}/u, reason);
      assert.doesNotMatch(zh.replace(/WHEP|WHIP/g, ''), /[a-z]{3,}/i, `left in English: ${zh}`);
    }
    assert.equal(modeReason('zh-CN', 'relay: more than 12 viewers'), '中继：观众超过 12 人');
  });

  test('English pages and unknown reasons keep the words as sent', () => {
    for (const reason of reasons) assert.equal(modeReason('en', reason), reason);
    assert.equal(modeReason('zh-CN', 'something new'), 'something new');
  });
});

describe('parseAcceptLanguage', () => {
  test('orders the tags by their q, highest first, keeping the header order for ties', () => {
    assert.deepEqual(parseAcceptLanguage('en;q=0.5, zh-CN, fr;q=0.8'), ['zh-CN', 'fr', 'en']);
    assert.deepEqual(parseAcceptLanguage('zh-CN,zh;q=0.9,en;q=0.8'), ['zh-CN', 'zh', 'en']);
    assert.deepEqual(parseAcceptLanguage('de,  en'), ['de', 'en']);
  });

  test('drops q=0 (not acceptable) and empty parts; no header is no preference', () => {
    assert.deepEqual(parseAcceptLanguage('zh;q=0, en'), ['en']);
    assert.deepEqual(parseAcceptLanguage('en,,;q=0.5'), ['en']);
    assert.deepEqual(parseAcceptLanguage(undefined), []);
    assert.deepEqual(parseAcceptLanguage(''), []);
  });
});

describe('pickLang', () => {
  test('Chinese of any region or script gets zh-CN', () => {
    for (const tag of ['zh-CN', 'zh', 'zh-TW', 'zh-Hant-HK', 'ZH-cn']) assert.equal(pickLang([tag]), 'zh-CN', tag);
  });

  test('English, and anything it has no sentences for, gets English', () => {
    for (const prefs of [['en-GB'], ['de'], [], ['fr', 'es'], ['*']]) assert.equal(pickLang(prefs), 'en', prefs.join());
  });

  test('the first language it has wins', () => {
    assert.equal(pickLang(['fr-FR', 'zh-TW', 'en']), 'zh-CN');
    assert.equal(pickLang(['fr-FR', 'en', 'zh']), 'en');
  });

  test('from a header: what a browser set to Chinese sends gets Chinese', () => {
    assert.equal(pickLang(parseAcceptLanguage('zh-CN,zh;q=0.9,en;q=0.8')), 'zh-CN');
    assert.equal(pickLang(parseAcceptLanguage('en-GB,zh;q=0.5')), 'en');
    assert.equal(pickLang(parseAcceptLanguage('en;q=0.1, zh-CN;q=0.9')), 'zh-CN');
    assert.equal(pickLang(parseAcceptLanguage('zh;q=0, en')), 'en');
  });
});
