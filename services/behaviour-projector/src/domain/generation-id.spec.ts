import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newGenerationId } from './generation-id.js';

test('a generation id is the time in base 36 and three random bytes in hex', () => {
  const id = newGenerationId(
    () => 1_735_689_600_000,
    (n) => Buffer.alloc(n, 0xab),
  );
  assert.equal(id, `g${(1_735_689_600_000).toString(36)}-ababab`);
});

test('later generations sort after earlier ones, as names the rebuild and the keys accept', () => {
  const random = (n: number) => Buffer.alloc(n, 0);
  const earlier = newGenerationId(() => 1_735_689_600_000, random);
  const later = newGenerationId(() => 1_735_689_600_001, random);
  assert.ok(earlier < later);
  assert.match(later, /^[0-9A-Za-z_-]{1,40}$/);
});
