import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { onExitCleanup } from './exit-cleanup.js';

/** How a server process ended. */
export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A long-running server child process whose output goes to a log file. */
export interface ServerProcess {
  readonly pid: number | undefined;
  /** Resolves when the process has ended (or failed to start). */
  readonly exited: Promise<ServerExit>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Starts a server in its own process group, so a terminal's Ctrl-C reaches only the command that
 * uses it, which can then shut down while the server still answers; the owner stops the server
 * afterwards. stdout and stderr are appended to `logFile`. The child does not keep this process alive, and
 * is killed if this process exits first.
 */
export function spawnServer(
  command: string,
  args: readonly string[],
  options: { logFile: string; cwd: string; env?: NodeJS.ProcessEnv },
): ServerProcess {
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', fd, fd],
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  child.unref();
  const forget = onExitCleanup(() => child.kill('SIGKILL'));
  let exit: ServerExit | undefined;
  const exited = new Promise<ServerExit>((resolve) => {
    child.once('error', (error) => {
      exit ??= { code: null, signal: null, error };
      forget();
      resolve(exit);
    });
    child.once('exit', (code, signal) => {
      exit ??= { code, signal };
      forget();
      resolve(exit);
    });
  });
  return {
    pid: child.pid,
    exited,
    async stop(graceMs) {
      if (exit) return;
      child.kill('SIGTERM');
      const ac = new AbortController();
      const grace = delay(graceMs, 'timeout' as const, { signal: ac.signal }).catch(() => 'aborted' as const);
      const outcome = await Promise.race([exited.then(() => 'exited' as const), grace]);
      ac.abort();
      if (outcome === 'timeout') {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** A one-line description of how a server ended, for error messages. */
export function describeExit(exit: ServerExit): string {
  if (exit.error) return `failed to start (${exit.error.message})`;
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
}
