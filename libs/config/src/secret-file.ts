import { watch as fsWatch, type FSWatcher } from 'node:fs';
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

/** A value as loaded: the bytes it came from (to tell a real change) and what `parse` made of them. */
interface LoadedSecret<T> {
  readonly raw: Buffer;
  readonly value: T;
}

/** The state of one watched secret file, shared by the steps that load, reload and close it. */
interface SecretWatch<T> {
  /** The absolute path, as given (symlinks are followed on each read). */
  readonly file: string;
  readonly parse: (text: string, raw: Buffer) => T;
  readonly onChange: ((value: T) => void) | undefined;
  readonly onError: (error: SecretFileError) => void;
  readonly debounceMs: number;
  /** The value being served; unset only until the initial load completes. */
  loaded: LoadedSecret<T> | undefined;
  closed: boolean;
  /** The debounce timer of the next re-read. */
  timer: NodeJS.Timeout | undefined;
  /** A read is in progress (the initial load or a reload); events meanwhile set `pending`. */
  reading: boolean;
  pending: boolean;
}

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
  const watch: SecretWatch<T> = {
    file: resolve(path),
    parse: options.parse ?? (defaultParse as unknown as (text: string, raw: Buffer) => T),
    onChange: options.onChange,
    onError: options.onError ?? ((err: SecretFileError) => process.emitWarning(err.message)),
    debounceMs: options.debounceMs ?? 50,
    loaded: undefined,
    closed: false,
    timer: undefined,
    reading: false,
    pending: false,
  };
  // Watch before the first read so a rotation racing with startup is not missed.
  const watcher = watchDirectory(watch);
  await loadInitialValue(watch).catch((err: unknown) => {
    stopWatching(watch, watcher);
    throw err;
  });
  return {
    current: () => watch.loaded!.value,
    close: () => stopWatching(watch, watcher),
  };
}

/**
 * Starts watching the secret's directory: every event schedules a re-read, and a failing watch
 * is reported through `onError` (the value keeps being served).
 */
function watchDirectory<T>(watch: SecretWatch<T>): FSWatcher {
  const dir = dirname(watch.file);
  let watcher: FSWatcher;
  try {
    watcher = fsWatch(dir, { persistent: false }, () => scheduleReload(watch));
  } catch (err) {
    throw new SecretFileError(watch.file, 'watch-failed', `cannot watch ${dir} (${errorCode(err)})`);
  }
  watcher.on('error', (err) => {
    if (!watch.closed)
      watch.onError(
        new SecretFileError(watch.file, 'watch-failed', `watch on ${dir} failed (${errorCode(err)})`),
      );
  });
  return watcher;
}

/**
 * The first load, which must succeed. It counts as a read in progress, so a directory event
 * during it leads to one re-read afterwards rather than to a reload racing with it.
 */
async function loadInitialValue<T>(watch: SecretWatch<T>): Promise<void> {
  watch.reading = true;
  try {
    watch.loaded = await loadSecret(watch.file, watch.parse);
  } finally {
    finishRead(watch);
  }
}

function stopWatching<T>(watch: SecretWatch<T>, watcher: FSWatcher): void {
  watch.closed = true;
  clearTimeout(watch.timer);
  watcher.close();
}

/** Reads and parses the file; throws {@link SecretFileError} without any of the content. */
async function loadSecret<T>(
  file: string,
  parse: (text: string, raw: Buffer) => T,
): Promise<LoadedSecret<T>> {
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
}

/** Re-reads the file after `debounceMs` of quiet; a later event restarts the wait. */
function scheduleReload<T>(watch: SecretWatch<T>): void {
  if (watch.closed) return;
  clearTimeout(watch.timer);
  watch.timer = setTimeout(() => void reloadSecret(watch), watch.debounceMs);
  watch.timer.unref();
}

/**
 * One re-read: a valid value whose bytes changed replaces the served one and is announced; a
 * failure is reported and the old value stays. One read at a time: an event during a read
 * schedules another once it ends.
 */
async function reloadSecret<T>(watch: SecretWatch<T>): Promise<void> {
  if (watch.reading) {
    watch.pending = true;
    return;
  }
  watch.reading = true;
  try {
    const next = await loadSecret(watch.file, watch.parse);
    if (!watch.closed && !next.raw.equals(watch.loaded!.raw)) {
      watch.loaded = next;
      announceChange(watch, next.value);
    }
  } catch (err) {
    if (!watch.closed) watch.onError(err as SecretFileError);
  } finally {
    finishRead(watch);
  }
}

function finishRead<T>(watch: SecretWatch<T>): void {
  watch.reading = false;
  if (watch.pending) {
    watch.pending = false;
    scheduleReload(watch);
  }
}

/** Tells `onChange` about a new value; a handler that throws is reported, never rethrown. */
function announceChange<T>(watch: SecretWatch<T>, value: T): void {
  try {
    watch.onChange?.(value);
  } catch (err) {
    const name = err instanceof Error ? err.name : typeof err;
    watch.onError(new SecretFileError(watch.file, 'handler-failed', `onChange threw (${name})`));
  }
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown error';
}
