import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readlink, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SecretFileError, SecretFormatError, watchSecretFile, type SecretFile } from './secret-file.js';
import { writeSecretVolume } from './test-support/kubelet-secret-volume.js';
import { waitFor } from '@wxmesh/testing';

interface Credentials {
  appId: string;
  secret: string;
}

/** Real validation, as a service would write it: a truncated document must not pass. */
function parseCredentials(text: string): Credentials {
  const doc = JSON.parse(text) as Partial<Credentials>;
  if (typeof doc.appId !== 'string') throw new SecretFormatError('missing field "appId"');
  if (typeof doc.secret !== 'string' || doc.secret.length < 8) {
    throw new SecretFormatError('field "secret" must be a string of at least 8 characters');
  }
  return { appId: doc.appId, secret: doc.secret };
}

describe('watchSecretFile', () => {
  let dir: string;
  const open: SecretFile<unknown>[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wxmesh-secret-'));
  });
  afterEach(async () => {
    for (const s of open.splice(0)) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function watchTracked<T>(path: string, options: Parameters<typeof watchSecretFile<T>>[1] = {}) {
    const changes: T[] = [];
    const errors: SecretFileError[] = [];
    let parses = 0;
    const parse = options.parse;
    const secret = await watchSecretFile<T>(path, {
      debounceMs: 20,
      ...options,
      parse: (text, raw) => {
        parses++;
        return parse ? parse(text, raw) : (text.trimEnd() as T);
      },
      onChange: (v) => changes.push(v),
      onError: (e) => errors.push(e),
    });
    open.push(secret);
    return { secret, changes, errors, parses: () => parses };
  }

  describe('with the kubelet Secret volume layout', () => {
    it('reads <dir>/<key> through the ..data symlink at start', async () => {
      await writeSecretVolume(dir, { 'wx-app-secret': 'S3CR3T-v1\n', 'pay-key': 'other' });
      assert.equal((await lstat(join(dir, 'wx-app-secret'))).isSymbolicLink(), true);
      assert.equal(await readlink(join(dir, 'wx-app-secret')), join('..data', 'wx-app-secret'));

      const { secret } = await watchTracked<string>(join(dir, 'wx-app-secret'));
      assert.equal(secret.current(), 'S3CR3T-v1');
    });

    it('picks up a rotation done by renaming ..data_tmp over ..data, and the old dir disappears', async () => {
      const firstTs = await writeSecretVolume(dir, { 'wx-app-secret': 'S3CR3T-v1' });
      const { secret, changes, errors } = await watchTracked<string>(join(dir, 'wx-app-secret'));

      const secondTs = await writeSecretVolume(dir, { 'wx-app-secret': 'S3CR3T-v2' });
      assert.match(secondTs ?? '', /^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/);
      assert.equal(await readlink(join(dir, '..data')), secondTs);
      const entries = await readdir(dir);
      assert.ok(!entries.includes(firstTs ?? ''), 'old timestamped dir removed');
      assert.ok(!entries.includes('..data_tmp'));

      await waitFor(() => changes.length === 1, { timeoutMs: 3000, message: 'onChange after rotation' });
      assert.deepEqual(changes, ['S3CR3T-v2']);
      assert.equal(secret.current(), 'S3CR3T-v2');
      assert.deepEqual(errors, []);

      await writeSecretVolume(dir, { 'wx-app-secret': 'S3CR3T-v3' });
      await waitFor(() => secret.current() === 'S3CR3T-v3', { timeoutMs: 3000, message: 'second rotation' });
      assert.deepEqual(changes, ['S3CR3T-v2', 'S3CR3T-v3']);
    });

    it('does not fire onChange when a rotation only changes other keys', async () => {
      await writeSecretVolume(dir, { 'wx-app-secret': 'S3CR3T-v1', 'pay-key': 'a' });
      const { secret, changes, parses } = await watchTracked<string>(join(dir, 'wx-app-secret'));
      const parsesBefore = parses();

      await writeSecretVolume(dir, { 'wx-app-secret': 'S3CR3T-v1', 'pay-key': 'b' });
      await waitFor(() => parses() > parsesBefore, { timeoutMs: 3000, message: 're-read after rotation' });
      assert.deepEqual(changes, []);

      await writeSecretVolume(dir, { 'wx-app-secret': 'S3CR3T-v2', 'pay-key': 'b' });
      await waitFor(() => changes.length > 0, { timeoutMs: 3000 });
      assert.deepEqual(changes, ['S3CR3T-v2']);
      assert.equal(secret.current(), 'S3CR3T-v2');
    });

    it('keeps serving the old value when a rotated value fails validation', async () => {
      await writeSecretVolume(dir, { creds: JSON.stringify({ appId: 'wx1', secret: 'S3CR3T-long-1' }) });
      const { secret, changes, errors } = await watchTracked(join(dir, 'creds'), { parse: parseCredentials });

      await writeSecretVolume(dir, { creds: JSON.stringify({ appId: 'wx1', secret: 'short' }) });
      await waitFor(() => errors.length > 0, { timeoutMs: 3000 });
      assert.equal(errors[0]?.problem, 'invalid');
      assert.match(errors[0]?.message ?? '', /at least 8 characters/);
      assert.doesNotMatch(errors[0]?.message ?? '', /short/);
      assert.deepEqual(secret.current(), { appId: 'wx1', secret: 'S3CR3T-long-1' });
      assert.deepEqual(changes, []);
    });
  });

  it('picks up a write-to-temp + rename replacement', async () => {
    const path = join(dir, 'token');
    await writeFile(path, 'S3CR3T-v1\n');
    const { secret, changes } = await watchTracked<string>(path);
    assert.equal(secret.current(), 'S3CR3T-v1');

    await writeFile(join(dir, '.token.tmp-123'), 'S3CR3T-v2\n');
    await rename(join(dir, '.token.tmp-123'), path);

    await waitFor(() => changes.length === 1, { timeoutMs: 3000 });
    assert.deepEqual(changes, ['S3CR3T-v2']);
    assert.equal(secret.current(), 'S3CR3T-v2');
  });

  it('never serves a partially written value; accepts it once complete', async () => {
    const path = join(dir, 'creds.json');
    const v1 = { appId: 'wx1', secret: 'S3CR3T-long-1' };
    const v2 = { appId: 'wx2', secret: 'S3CR3T-long-2' };
    await writeFile(path, JSON.stringify(v1));
    const { secret, changes, errors } = await watchTracked(path, { parse: parseCredentials });

    const full = JSON.stringify(v2);
    await writeFile(path, full.slice(0, full.length - 12));
    await waitFor(() => errors.length > 0, { timeoutMs: 3000, message: 'truncated write rejected' });
    assert.deepEqual(secret.current(), v1);
    assert.equal(errors[0]?.problem, 'invalid');
    // JSON.parse's own message quotes the input, so only the error class may surface.
    assert.match(errors[0]?.message ?? '', /failed validation \(SyntaxError\)/);
    assert.doesNotMatch(errors[0]?.message ?? '', /S3CR3T/);

    await writeFile(path, full);
    await waitFor(() => changes.length > 0, { timeoutMs: 3000, message: 'completed write accepted' });
    assert.deepEqual(changes, [v2]);
    assert.deepEqual(secret.current(), v2);
  });

  it('keeps the old value while the file is missing or empty, then recovers', async () => {
    const path = join(dir, 'token');
    await writeFile(path, 'S3CR3T-v1');
    const { secret, changes, errors } = await watchTracked<string>(path);

    await writeFile(path, '');
    await waitFor(() => errors.some((e) => e.problem === 'empty'), { timeoutMs: 3000 });
    await rm(path);
    await waitFor(() => errors.some((e) => e.problem === 'unreadable'), { timeoutMs: 3000 });
    assert.equal(secret.current(), 'S3CR3T-v1');

    await writeFile(path, 'S3CR3T-v2');
    await waitFor(() => changes.length > 0, { timeoutMs: 3000 });
    assert.deepEqual(changes, ['S3CR3T-v2']);
    for (const e of errors) assert.doesNotMatch(e.message, /S3CR3T/);
  });

  describe('at startup', () => {
    it('throws naming the path when the file is missing', async () => {
      const path = join(dir, 'absent');
      await assert.rejects(watchSecretFile(path), (err: unknown) => {
        assert.ok(err instanceof SecretFileError);
        assert.equal(err.problem, 'unreadable');
        assert.match(err.message, new RegExp(`${path}: cannot be read \\(ENOENT\\)`));
        return true;
      });
    });

    it('throws when the file is empty', async () => {
      const path = join(dir, 'blank');
      await writeFile(path, '\n');
      await assert.rejects(watchSecretFile(path), { name: 'SecretFileError', problem: 'empty' });
    });

    it('throws without the content when parse rejects it', async () => {
      const path = join(dir, 'creds.json');
      await writeFile(path, '{"appId":"wx1","secret":"S3CR3T-');
      await assert.rejects(watchSecretFile(path, { parse: parseCredentials }), (err: unknown) => {
        assert.ok(err instanceof SecretFileError);
        assert.equal(err.problem, 'invalid');
        assert.ok(err.message.includes(path));
        assert.doesNotMatch(err.message, /S3CR3T/);
        assert.equal(err.cause, undefined);
        return true;
      });
    });
  });
});
