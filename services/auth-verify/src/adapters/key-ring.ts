import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { SecretFormatError } from '@wxmesh/config';

/** One at-rest encryption key and the id sealed values name it by. */
export interface RingKey {
  id: string;
  key: Buffer;
  /** False for a bare key (the old single-key file): values it seals keep the old `v1` format. */
  named: boolean;
}

/** The at-rest keys, newest first: the first seals, every one opens what it sealed. */
export type KeyRing = readonly RingKey[];

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Parses the at-rest key file: one key per line, newest first, each `<id>=<base64 of 32 bytes>`
 * (blank lines and `#` comments allowed). A bare base64 key (the single-key format of old) is
 * accepted too; its id is then derived from the key's SHA-256 (for messages only). Errors name
 * the line, never its content.
 */
export function parseKeyRing(text: string): KeyRing {
  const ring: RingKey[] = [];
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const at = trimmed.indexOf('=');
    const name = at > 0 ? trimmed.slice(0, at).trim() : '';
    const named = KEY_ID.test(name);
    const key = Buffer.from(named ? trimmed.slice(at + 1).trim() : trimmed, 'base64');
    if (key.length !== 32)
      throw new SecretFormatError(`line ${i + 1}: expected [<id>=]<32 bytes, base64-encoded>`);
    const id = named ? name : derivedKeyId(key);
    if (ring.some((k) => k.id === id))
      throw new SecretFormatError(`line ${i + 1}: key id "${id}" listed twice`);
    ring.push({ id, key, named });
  }
  if (ring.length === 0) throw new SecretFormatError('no key: expected one [<id>=]<base64 key> per line');
  return ring;
}

/** The id of a key listed without one: `k` and 10 characters of its SHA-256 (nothing of the key itself). */
function derivedKeyId(key: Buffer): string {
  return `k${createHash('sha256').update(key).digest('base64url').slice(0, 10)}`;
}

/** What opening a sealed value came to. */
export type Unsealed =
  /** `stale`: sealed under a key other than the newest (or before values named their key): re-seal it. */
  | { outcome: 'opened'; plain: string; stale: boolean }
  /** Sealed under a key id the ring does not list (retired, or not yet rolled out here); `problem` says which, without any secret. */
  | { outcome: 'retired-key'; keyId: string; problem: string }
  /** Not a value any listed key sealed for this context (tampered, copied, or not sealed at all). */
  | { outcome: 'invalid'; problem: string };

/** Encrypts values at rest with AES-256-GCM under a key ring; see {@link createSealBox}. */
export interface SealBox {
  /**
   * `v2.<key id>.<nonce>.<ciphertext+tag>` under the newest key (`v1.<nonce>.<ciphertext+tag>` when
   * that key is unnamed), bound to `context` as associated data.
   */
  seal(plain: string, context: string): string;
  /** The plaintext, or undefined when no listed key sealed this value for `context`. */
  open(sealed: string, context: string): string | undefined;
  /** The plaintext and whether it wants re-sealing, or why it cannot be opened. */
  unseal(sealed: string, context: string): Unsealed;
}

/**
 * A seal box over the key ring `ring()` returns at each call (so a hot-reloaded key file takes
 * effect at once): seals with the newest key and names it in the value (`v2`); opens with the key
 * the value names, whichever position it has. Values without a key id (`v1.<nonce>.<body>`, what
 * a bare, unnamed newest key still seals, so a file in the old format changes no stored value and
 * replicas of the previous release read everything) open with whichever listed key sealed them.
 * A value opened with any key but the newest is stale: the caller should re-seal it.
 */
export function createSealBox(ring: () => KeyRing): SealBox {
  const unseal = (sealed: string, context: string): Unsealed => {
    const parts = sealed.split('.');
    const keys = ring();
    if (parts[0] === 'v2' && parts.length === 4)
      return unsealNamed(keys, parts[1]!, parts[2]!, parts[3]!, context);
    if (parts[0] === 'v1' && parts.length === 3) return unsealLegacy(keys, parts[1]!, parts[2]!, context);
    return { outcome: 'invalid', problem: 'not a sealed value (expected v2.<key id>.<nonce>.<body>)' };
  };
  return {
    seal(plain, context) {
      const newest = ring()[0]!;
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', newest.key, nonce);
      cipher.setAAD(Buffer.from(context));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      const sealed = `${nonce.toString('base64url')}.${body.toString('base64url')}`;
      return newest.named ? `v2.${newest.id}.${sealed}` : `v1.${sealed}`;
    },
    open(sealed, context) {
      const result = unseal(sealed, context);
      return result.outcome === 'opened' ? result.plain : undefined;
    },
    unseal,
  };
}

function unsealNamed(keys: KeyRing, keyId: string, nonce: string, body: string, context: string): Unsealed {
  const index = keys.findIndex((k) => k.id === keyId);
  if (index < 0) {
    const listed = keys.map((k) => k.id).join(', ');
    const problem = `sealed with at-rest key "${keyId}", which the key ring does not list (it lists: ${listed})`;
    return { outcome: 'retired-key', keyId, problem };
  }
  const plain = decrypt(keys[index]!.key, nonce, body, context);
  if (plain === undefined)
    return { outcome: 'invalid', problem: `does not open with key "${keyId}" for this context` };
  return { outcome: 'opened', plain, stale: index > 0 };
}

function unsealLegacy(keys: KeyRing, nonce: string, body: string, context: string): Unsealed {
  for (const [index, { key }] of keys.entries()) {
    const plain = decrypt(key, nonce, body, context);
    if (plain !== undefined) return { outcome: 'opened', plain, stale: index > 0 || keys[0]!.named };
  }
  return { outcome: 'invalid', problem: 'a value sealed before key ids that no listed key opens' };
}

/** AES-256-GCM open of `body` (ciphertext then 16-byte tag); undefined when it does not authenticate. */
function decrypt(key: Buffer, nonce: string, body: string, context: string): string | undefined {
  try {
    const bytes = Buffer.from(body, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(nonce, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(0, bytes.length - 16)), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return undefined;
  }
}
