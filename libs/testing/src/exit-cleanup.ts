const cleanups = new Set<() => void>();
let hookInstalled = false;

/**
 * Runs `cleanup` (synchronous: kill a child, remove a directory) if this process exits before the
 * returned function is called. A test file that times out, throws or forgets stop(), or a Ctrl-C
 * while servers are still starting, must not leave servers or scratch directories behind. Only a
 * SIGKILL of this process escapes this.
 */
export function onExitCleanup(cleanup: () => void): () => void {
  if (!hookInstalled) {
    hookInstalled = true;
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
