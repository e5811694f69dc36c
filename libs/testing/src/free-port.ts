import getPort from 'get-port';

/**
 * A TCP port that is free on 127.0.0.1 right now. get-port keeps the port out of its own later
 * answers in this process for a while, so servers started in parallel do not get the same port;
 * another process can still take it before the caller binds, so callers that start a server
 * retry with a new port when the bind fails.
 */
export function freePort(): Promise<number> {
  return getPort({ host: '127.0.0.1' });
}
