import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** A service started as its own process, the way `npm start` and Kubernetes run it. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly grpcAddress: string;
  readonly httpUrl: string;
  /** Every JSON log line the process has written so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
}

/** Options of {@link startServiceProcess}. */
export interface StartServiceOptions {
  /** Extra environment; `GRPC_PORT`/`HTTP_PORT` default to 0 (OS-picked). */
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
  /** Called with every stdout line, e.g. to show the service's log. */
  readonly onLine?: (line: string) => void;
  /** Called with whatever the service writes to stderr (it is also kept for start-up errors). */
  readonly onStderr?: (chunk: string) => void;
  /**
   * Runs the service in a process group of its own, so a terminal's Ctrl-C (SIGINT to the
   * foreground group) reaches only the parent, which then stops the service with one SIGTERM
   * and lets it drain; in the parent's group it would get both and exit at once. The parent
   * must then stop the process itself.
   */
  readonly ownProcessGroup?: boolean;
  /** Called with the process as soon as it is spawned, before it serves (to stop it early). */
  readonly onSpawn?: (child: ChildProcess) => void;
  /**
   * A bundle of the service built by scripts/build.ts, run with plain node as production images
   * run it; by default the TypeScript source runs under tsx.
   */
  readonly bundle?: string;
}

/**
 * The `nodeOptions` a service's package.json declares (V8 heap sizes and the like): the one place
 * they are written; its Deployment sets the same string as `NODE_OPTIONS` (checked by the manifest tests).
 */
export function serviceNodeOptions(name: string): string | undefined {
  const manifest = JSON.parse(readFileSync(`${root}services/${name}/package.json`, 'utf8')) as {
    nodeOptions?: string;
  };
  return manifest.nodeOptions;
}

/**
 * Starts `services/<name>/src/main.ts` as its own process (as `npm start` and Kubernetes run it)
 * and resolves once it logs `serving`, with the ports it bound. Fails with the process's own
 * output when it exits first or takes longer than `timeoutMs`.
 */
export async function startServiceProcess(
  name: string,
  options: StartServiceOptions = {},
): Promise<ServiceProcess> {
  const { env = {}, timeoutMs = 20_000, onLine, onStderr, ownProcessGroup = false, onSpawn } = options;
  const entry = options.bundle === undefined ? ['--import', 'tsx', 'src/main.ts'] : [options.bundle];
  const nodeOptions = [process.env.NODE_OPTIONS, serviceNodeOptions(name)].filter(Boolean).join(' ');
  const child = spawn(process.execPath, entry, {
    cwd: `${root}services/${name}`,
    detached: ownProcessGroup,
    env: {
      ...process.env,
      ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}),
      HOST: '127.0.0.1',
      GRPC_PORT: '0',
      HTTP_PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  onSpawn?.(child);
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk;
    onStderr?.(chunk.toString());
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const serving = new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start in ${timeoutMs} ms\n${stderr}`)),
      timeoutMs,
    );
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before serving\n${stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      onLine?.(line);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'serving') {
        clearTimeout(timer);
        resolve(entry);
      }
    });
  });
  let ports: Record<string, unknown>;
  try {
    ports = await serving;
  } catch (err) {
    // Nobody holds a handle to a process that did not start: do not leave it running.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  }
  return {
    child,
    grpcAddress: `127.0.0.1:${ports.grpcPort}`,
    httpUrl: `http://127.0.0.1:${ports.httpPort}`,
    logs,
    exited,
  };
}
