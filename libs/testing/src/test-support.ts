import { createServer } from 'node:net';

/** Whether a TCP server can bind 127.0.0.1:`port` right now, i.e. nothing holds it. */
export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
