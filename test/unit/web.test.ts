import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { broadcastPage, escapeHtml, watchPage } from '../../src/web/pages.js';
import { parseAcceptLanguage, pickLang, STRINGS, t } from '../../src/web/strings.js';

describe('strings', () => {
  test('every sentence exists in English and Simplified Chinese', () => {
    const en = Object.keys(STRINGS.en).sort();
    assert.deepEqual(Object.keys(STRINGS['zh-CN']).sort(), en);
    for (const key of en) assert.ok(STRINGS['zh-CN'][key as keyof typeof STRINGS.en].length > 0, key);
  });

  test('the language follows the browser, English otherwise', () => {
    assert.equal(pickLang(parseAcceptLanguage('zh-CN,zh;q=0.9,en;q=0.8')), 'zh-CN');
    assert.equal(pickLang(parseAcceptLanguage('en-GB,zh;q=0.5')), 'en');
    assert.equal(pickLang(parseAcceptLanguage('fr-FR,zh-TW;q=0.4')), 'zh-CN');
    assert.equal(pickLang(parseAcceptLanguage('de')), 'en');
    assert.equal(pickLang(parseAcceptLanguage(undefined)), 'en');
    assert.equal(pickLang(parseAcceptLanguage('zh;q=0, en')), 'en');
  });

  test('placeholders are filled', () => {
    assert.equal(t('en', 'watching', { n: 3 }), '3 watching');
    assert.equal(t('zh-CN', 'watching', { n: 3 }), '3 人观看');
  });
});

describe('pages', () => {
  test('escapeHtml leaves no markup', () => {
    assert.equal(escapeHtml('<img src=x onerror="a(\'1\')">&'), '&#60;img src=x onerror=&#34;a(&#39;1&#39;)&#34;&#62;&#38;');
  });

  test('room names are escaped wherever a page shows them', () => {
    const evil = '<img src=x onerror=alert(1)>';
    for (const html of [watchPage('en', evil), broadcastPage('en', evil)]) {
      assert.doesNotMatch(html, /<img src=x/);
      assert.match(html, /&#60;img src=x onerror=alert\(1\)&#62;/);
    }
  });
});
