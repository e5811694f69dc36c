const cleanups = new Set<() => void>();
let hookInstalled = false;

/** Signals that end a test process without an `exit` event unless someone handles them. */
const TERMINATING = { SIGTERM: 15, SIGHUP: 1, SIGINT: 2 } as const;

/**
 * Runs `cleanup` (synchronous: kill a child, remove a directory) if this process exits before the
 * returned function is called. A test file that times out, throws or forgets stop(), or a Ctrl-C
 * while servers are still starting, must not leave servers or scratch directories behind. Only a
 * SIGKILL of this process escapes this.
 *
 * Node's default action for SIGTERM, SIGHUP and SIGINT ends the process without an `exit` event,
 * so a test file the runner stops (its timeout) or a CI job cancelled would leave every service it
 * started running (seen: eight orphaned services kept loading a CI machine after their spec timed
 * out). So while no other handler is installed for one of those signals, it exits with the
 * conventional 128 + signal number and the cleanups run; a program with its own handler (npm start
 * stopping gracefully) keeps full control of its signals.
 */
export function onExitCleanup(cleanup: () => void): () => void {
  if (!hookInstalled) {
    hookInstalled = true;
    for (const [signal, number] of Object.entries(TERMINATING)) {
      process.on(signal, () => {
        if (process.listenerCount(signal) === 1) process.exit(128 + number);
      });
    }
    process.on('exit', () => {
      // Last registered first: a server is killed before its directory is removed.
      for (const fn of [...cleanups].reverse()) {
        try {
          fn();
        } catch {
          // best effort: the process is exiting anyway
        }
      }
    });
  }
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}
