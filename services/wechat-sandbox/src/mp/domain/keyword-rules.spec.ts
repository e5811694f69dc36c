// The subscribe-message keyword rules, as WeChat documents them for subscribeMessage.send.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { keywordProblem, keywordType, type KeywordType } from './keyword-rules.js';

test('template keys are <type><n>', () => {
  assert.equal(keywordType('thing1'), 'thing');
  assert.equal(keywordType('character_string12'), 'character_string');
  assert.equal(keywordType('phone_number3'), 'phone_number');
  assert.equal(keywordType('thing'), undefined);
  assert.equal(keywordType('colour1'), undefined);
  assert.equal(keywordType('thing1.DATA'), undefined);
});

const CASES: Record<KeywordType, { valid: string[]; invalid: string[] }> = {
  thing: {
    valid: ['a'.repeat(20), '订单已发货', 'Order #123 shipped!'],
    invalid: ['a'.repeat(21), 'line\nbreak'],
  },
  number: { valid: ['0', '123.45', '9'.repeat(32)], invalid: ['-1', '1e5', '1.', '9'.repeat(33), '12 3'] },
  letter: { valid: ['abcXYZ'], invalid: ['abc1', 'a'.repeat(33), '中'] },
  symbol: { valid: ['%', '!?…', '#####'], invalid: ['######', 'a', '1'] },
  character_string: {
    valid: ['SO-2024_01', 'a'.repeat(32)],
    invalid: ['a'.repeat(33), 'with space', '订单'],
  },
  time: {
    valid: [
      '15:01',
      '2019年10月1日 15:01',
      '2019-10-01 15:01:59',
      '09:00~18:00',
      '2019/10/1 8:00 ~ 2019/10/2 9:30',
    ],
    invalid: ['24:00', '12:60', '2019年10月1日', 'noon', '1:00~2:00~3:00'],
  },
  date: {
    valid: ['2019年10月1日', '2019-10-01', '2019年10月1日 15:01', '2019-10-01~2019-10-07'],
    invalid: ['15:01', '2019-13-01', '2019-10-32', 'tomorrow'],
  },
  amount: {
    valid: ['¥100', '100元', '￥29.90', '1234567890.5', '$5'],
    invalid: ['12345678901', '100 元', 'RMB100', '-5'],
  },
  phone_number: {
    valid: ['+86-0766-66888866', '13800138000'],
    invalid: ['1'.repeat(18), '138 0013 8000', 'call me'],
  },
  car_number: { valid: ['粤A8Z888挂', '京A12345', 'AB12345'], invalid: ['粤A8Z8888挂', '粤A中888', 'A-123'] },
  name: {
    valid: ['张三', '诸葛孔明', 'John Smith', 'a'.repeat(20), '张三Smith'],
    invalid: ['张'.repeat(11), 'a'.repeat(21), 'R2D2'],
  },
  phrase: { valid: ['配送中', '已发货'], invalid: ['shipped', '配送中了吗呀', '配送1'] },
};

test('every keyword type keeps its documented rule; empty values are "is empty"', () => {
  for (const [type, { valid, invalid }] of Object.entries(CASES) as [
    KeywordType,
    (typeof CASES)[KeywordType],
  ][]) {
    for (const value of valid)
      assert.equal(keywordProblem(type, value), undefined, `${type} accepts ${value}`);
    for (const value of invalid)
      assert.equal(keywordProblem(type, value), 'invalid', `${type} refuses ${value}`);
    assert.equal(keywordProblem(type, ''), 'is empty');
  }
});
