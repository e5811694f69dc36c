import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createSealBox, parseKeyRing, type KeyRing } from './key-ring.js';

const keyA = randomBytes(32).toString('base64');
const keyB = randomBytes(32).toString('base64');
const CONTEXT = 'wxm:auth:{o_1}:session_key:wx1';

/** A box over the ring `text` parses to, and `rotate` to replace it as a hot-reloaded key file would. */
function boxOver(text: string) {
  let ring: KeyRing = parseKeyRing(text);
  return {
    box: createSealBox(() => ring),
    rotate: (next: string) => (ring = parseKeyRing(next)),
  };
}

test('the key file: named keys newest first, comments and blank lines allowed, a bare key too', () => {
  const ring = parseKeyRing(`# rotated 2026-12\nB=${keyB}\n\nA = ${keyA}\n`);
  assert.deepEqual(
    ring.map((k) => k.id),
    ['B', 'A'],
  );
  assert.ok(ring.every((k) => k.named && k.key.length === 32));
  const [bare] = parseKeyRing(`${keyA}\n`);
  assert.equal(bare!.named, false);
  assert.match(bare!.id, /^k[\w-]{10}$/);
  assert.equal(parseKeyRing(keyA)[0]!.id, bare!.id, 'a bare key keeps its id');
});

test('a bad key file is refused with the line, never its content', () => {
  const short = randomBytes(16).toString('base64');
  assert.throws(
    () => parseKeyRing(`A=${keyA}\nB=${short}`),
    (err: Error) => {
      assert.match(err.message, /line 2: expected \[<id>=\]<32 bytes/);
      assert.ok(!err.message.includes(short) && !err.message.includes(keyA));
      return true;
    },
  );
  assert.throws(() => parseKeyRing(`A=${keyA}\nA=${keyB}`), /line 2: key id "A" listed twice/);
  assert.throws(() => parseKeyRing('# nothing\n'), /no key/);
});

test('rotation: sealed with A; ring [B, A] opens it as stale, seals with B; without A only A-sealed values fail', () => {
  const { box, rotate } = boxOver(`A=${keyA}`);
  const underA = box.seal('session-key-1', CONTEXT);
  assert.match(underA, /^v2\.A\./);
  assert.deepEqual(box.unseal(underA, CONTEXT), { outcome: 'opened', plain: 'session-key-1', stale: false });

  rotate(`B=${keyB}\nA=${keyA}`);
  assert.deepEqual(box.unseal(underA, CONTEXT), { outcome: 'opened', plain: 'session-key-1', stale: true });
  const underB = box.seal('session-key-1', CONTEXT);
  assert.match(underB, /^v2\.B\./);
  assert.deepEqual(box.unseal(underB, CONTEXT), { outcome: 'opened', plain: 'session-key-1', stale: false });

  rotate(`B=${keyB}`);
  assert.equal(box.open(underB, CONTEXT), 'session-key-1');
  const retired = box.unseal(underA, CONTEXT);
  assert.equal(retired.outcome, 'retired-key');
  assert.ok(retired.outcome === 'retired-key');
  assert.equal(retired.keyId, 'A');
  assert.equal(
    retired.problem,
    'sealed with at-rest key "A", which the key ring does not list (it lists: B)',
  );
  assert.equal(box.open(underA, CONTEXT), undefined);
});

test('a value opens only for the context it was sealed for, and not when tampered with', () => {
  const { box } = boxOver(`A=${keyA}`);
  const sealed = box.seal('secret', CONTEXT);
  assert.equal(box.unseal(sealed, 'wxm:auth:{o_2}:session_key:wx1').outcome, 'invalid');
  const [v, id, nonce, body] = sealed.split('.');
  const flipped = `${v}.${id}.${nonce}.${body!.slice(0, -2)}${body!.endsWith('A') ? 'B' : 'A'}${body!.slice(-1)}`;
  assert.equal(box.unseal(flipped, CONTEXT).outcome, 'invalid');
  assert.equal(box.unseal('plain text', CONTEXT).outcome, 'invalid');
});

test('the old single-key file keeps the old v1 format; naming keys later still opens those values', () => {
  const { box, rotate } = boxOver(keyA);
  const legacy = box.seal('session-key-2', CONTEXT);
  assert.match(legacy, /^v1\.[\w-]+\.[\w-]+$/);
  assert.deepEqual(box.unseal(legacy, CONTEXT), { outcome: 'opened', plain: 'session-key-2', stale: false });

  rotate(`B=${keyB}\nA=${keyA}`);
  assert.deepEqual(box.unseal(legacy, CONTEXT), { outcome: 'opened', plain: 'session-key-2', stale: true });
  rotate(`A=${keyA}`);
  assert.deepEqual(
    box.unseal(legacy, CONTEXT),
    { outcome: 'opened', plain: 'session-key-2', stale: true },
    'a named newest key re-seals v1 values so they name their key',
  );
  rotate(`B=${keyB}`);
  assert.equal(box.unseal(legacy, CONTEXT).outcome, 'invalid');
});
