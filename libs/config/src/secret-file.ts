import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** Why a secret file could not be (re)loaded. */
export type SecretFileProblem = 'unreadable' | 'empty' | 'invalid' | 'watch-failed' | 'handler-failed';

/**
 * A secret file could not be loaded or reloaded. The message names the path and the kind of problem,
 * never the content; the underlying error is deliberately not attached as `cause` because parser
 * errors (e.g. `JSON.parse`) quote the input.
 */
export class SecretFileError extends Error {
  override readonly name = 'SecretFileError';
  constructor(
    readonly path: string,
    readonly problem: SecretFileProblem,
    detail: string,
  ) {
    super(`secret file ${path}: ${detail}`);
  }
}

/**
 * Throw this from a `parse` function to explain what is wrong with a secret's shape (e.g.
 * `missing field "apiV3Key"`). Its message is passed through to {@link SecretFileError}, so it must
 * not contain any part of the secret. Any other error thrown by `parse` is reduced to its class name.
 */
export class SecretFormatError extends Error {
  override readonly name = 'SecretFormatError';
}

export interface WatchSecretFileOptions<T> {
  /**
   * Turns the file's text into the value and validates it; throw to reject. A rejected value is never
   * served: on reload the previous value stays. Receives the raw bytes too, for binary secrets.
   * Default: the UTF-8 text with trailing whitespace (the newline `echo` adds) removed.
   */
  parse?: (text: string, raw: Buffer) => T;
  /** Called after a changed, valid value has replaced the current one. */
  onChange?: (value: T) => void;
  /** Called when a reload is rejected (the old value keeps being served). Default: `process.emitWarning`. */
  onError?: (error: SecretFileError) => void;
  /** Quiet period after the last directory event before re-reading. Default 50 ms. */
  debounceMs?: number;
}

export interface SecretFile<T> {
  /** The latest accepted value; cheap and synchronous, call it on every use rather than caching it. */
  current(): T;
  /** Stops watching. `current()` keeps returning the last value. */
  close(): void;
}

const defaultParse = (text: string): string => text.trimEnd();

/**
 * Loads a secret from a file and keeps it fresh as the file is rotated, without ever serving a
 * half-written or invalid value.
 *
 * Watches the file's directory, not the file: Kubernetes rotates a Secret volume by writing a new
 * timestamped directory and atomically renaming a `..data_tmp` symlink over `..data` (the file itself
 * is `<key> -> ..data/<key>`), and editors replace files by write-to-temp + rename; both swap the inode,
 * which a watch on the file would lose. Any event in the directory schedules a debounced re-read of
 * `path` (following symlinks). A new value is accepted only if the file reads completely, is not empty,
 * passes `parse`, and differs from the current bytes; otherwise the old value stays and `onError` gets
 * an error that names the path but never the content.
 *
 * The initial load must succeed: a missing, empty or invalid file throws {@link SecretFileError}.
 * Writers that update the file in place (not atomically) are covered only as far as `parse` can tell
 * a truncated value from a whole one, so give `parse` real validation for structured secrets.
 * The watch does not keep the process alive.
 */
export async function watchSecretFile<T = string>(
  path: string,
  options: WatchSecretFileOptions<T> = {},
): Promise<SecretFile<T>> {
  const file = resolve(path);
  const parse = options.parse ?? (defaultParse as unknown as (text: string, raw: Buffer) => T);
  const onError = options.onError ?? ((err: SecretFileError) => process.emitWarning(err.message));
  const debounceMs = options.debounceMs ?? 50;

  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let reading = false;
  let pending = false;

  const load = async (): Promise<{ raw: Buffer; value: T }> => {
    let raw: Buffer;
    try {
      raw = await readFile(file);
    } catch (err) {
      throw new SecretFileError(file, 'unreadable', `cannot be read (${errorCode(err)})`);
    }
    if (raw.toString('utf8').trim() === '') throw new SecretFileError(file, 'empty', 'is empty');
    try {
      return { raw, value: parse(raw.toString('utf8'), raw) };
    } catch (err) {
      const detail =
        err instanceof SecretFormatError
          ? `is invalid: ${err.message}`
          : `failed validation (${err instanceof Error ? err.name : typeof err})`;
      throw new SecretFileError(file, 'invalid', detail);
    }
  };

  const reload = async (): Promise<void> => {
    if (reading) {
      pending = true;
      return;
    }
    reading = true;
    try {
      const next = await load();
      if (!closed && !next.raw.equals(state.raw)) {
        state = next;
        notify(next.value);
      }
    } catch (err) {
      if (!closed) onError(err as SecretFileError);
    } finally {
      reading = false;
      if (pending) {
        pending = false;
        schedule();
      }
    }
  };

  const notify = (value: T): void => {
    try {
      options.onChange?.(value);
    } catch (err) {
      const name = err instanceof Error ? err.name : typeof err;
      onError(new SecretFileError(file, 'handler-failed', `onChange threw (${name})`));
    }
  };

  const schedule = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), debounceMs);
    timer.unref();
  };

  // Watch before the first read so a rotation racing with startup is not missed.
  const dir = dirname(file);
  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { persistent: false }, schedule);
  } catch (err) {
    throw new SecretFileError(file, 'watch-failed', `cannot watch ${dir} (${errorCode(err)})`);
  }
  watcher.on('error', (err) => {
    if (!closed)
      onError(new SecretFileError(file, 'watch-failed', `watch on ${dir} failed (${errorCode(err)})`));
  });

  let state: { raw: Buffer; value: T };
  try {
    state = await load();
  } catch (err) {
    watcher.close();
    throw err;
  }

  return {
    current: () => state.value,
    close: () => {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown error';
}
