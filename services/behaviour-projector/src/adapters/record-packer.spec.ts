import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decode } from '@msgpack/msgpack';
import { RecordPacker } from './record-packer.js';

// Every length class of the str header (fixstr, str8, str16, str32), in ASCII and not, next to
// every int width; decoded by an independent MessagePack implementation.
const STRINGS = [
  '',
  'a',
  'x'.repeat(31),
  'x'.repeat(32),
  'x'.repeat(255),
  'x'.repeat(256),
  'x'.repeat(65_535),
  'x'.repeat(65_536),
  'é',
  `${'x'.repeat(30)}é`, // 31 chars but 32 bytes: the header must follow the bytes, not the chars
  `${'x'.repeat(254)}é`,
  `${'é'.repeat(32_767)}x`,
  '统一ID😀',
  'lone \ud800 surrogate',
  '\u007f\u0080',
];
const INTS = [
  0,
  1,
  127,
  128,
  255,
  256,
  65_535,
  65_536,
  2 ** 32 - 1,
  2 ** 32,
  1_735_689_600_000,
  Number.MAX_SAFE_INTEGER,
];

describe('RecordPacker', () => {
  it('packs strings and integers that an independent MessagePack decoder reads back', () => {
    const packer = new RecordPacker();
    const expected: Array<string | number> = [];
    for (const [i, s] of STRINGS.entries()) {
      packer.str(s);
      expected.push(Buffer.from(s, 'utf8').toString('utf8'));
      const n = INTS[i % INTS.length]!;
      packer.int(n);
      expected.push(n);
    }
    assert.deepEqual(decode(packer.finish()), expected);
  });

  it('starts empty again after finish, and packs an empty array', () => {
    const packer = new RecordPacker();
    packer.str('first');
    packer.finish();
    assert.deepEqual(decode(packer.finish()), []);
    packer.int(7);
    assert.deepEqual(decode(packer.finish()), [7]);
  });

  it('keeps an earlier result intact when the packer is reused', () => {
    const packer = new RecordPacker();
    packer.str('one');
    const first = packer.finish();
    packer.str('two');
    packer.finish();
    assert.deepEqual(decode(first), ['one']);
  });

  it('refuses what the scripts cannot read as an integer', () => {
    const packer = new RecordPacker();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      assert.throws(() => packer.int(bad), /is not a non-negative safe integer/);
    }
  });
});
