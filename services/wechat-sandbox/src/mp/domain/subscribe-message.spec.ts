// A subscribe message's data and options checked alone, in WeChat's 47003 words.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WxError } from './errors.js';
import { checkData, checkOptions } from './subscribe-message.js';

/** The errmsg detail of the 47003 a check throws. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof WxError);
    assert.equal(error.errcode, 47003);
    return error.detail!;
  }
  assert.fail('accepted');
}

test('checkData keeps exactly the template’s keywords, each valid for its type', () => {
  const keywords = ['thing1', 'amount2'];
  assert.deepEqual(checkData(keywords, { thing1: { value: '订单已发货' }, amount2: { value: '¥12.50' } }), {
    thing1: { value: '订单已发货' },
    amount2: { value: '¥12.50' },
  });
  assert.equal(
    refusal(() => checkData(keywords, [])),
    'argument invalid! data invalid',
  );
  assert.equal(
    refusal(() =>
      checkData(keywords, { thing1: { value: 'a' }, amount2: { value: '1' }, name3: { value: 'x' } }),
    ),
    'argument invalid! data.name3 not in template',
  );
  assert.equal(
    refusal(() => checkData(keywords, { thing1: { value: 'a' } })),
    'argument invalid! data.amount2.value is empty',
  );
  assert.equal(
    refusal(() => checkData(keywords, { thing1: { value: 'a' }, amount2: { value: 'twelve' } })),
    'argument invalid! data.amount2.value invalid',
  );
  assert.equal(
    refusal(() => checkData(keywords, { thing1: { value: 7 }, amount2: { value: '1' } })),
    'argument invalid! data.thing1.value invalid',
  );
});

test('checkOptions defaults to formal and zh_CN, and refuses unknown states, languages and a non-string page', () => {
  assert.deepEqual(checkOptions({}), { miniprogram_state: 'formal', lang: 'zh_CN' });
  assert.deepEqual(checkOptions({ page: 'pages/a', miniprogram_state: 'trial', lang: 'en_US' }), {
    page: 'pages/a',
    miniprogram_state: 'trial',
    lang: 'en_US',
  });
  assert.equal(
    refusal(() => checkOptions({ miniprogram_state: 'beta' })),
    'argument invalid! miniprogram_state invalid',
  );
  assert.equal(
    refusal(() => checkOptions({ lang: 'fr_FR' })),
    'argument invalid! lang invalid',
  );
  assert.equal(
    refusal(() => checkOptions({ page: 3 })),
    'argument invalid! page invalid',
  );
});
