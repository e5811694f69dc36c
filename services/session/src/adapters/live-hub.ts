import type { RelayedMessage } from './relay-codec.js';
import type { LiveChannel } from './live-channel.js';

/** This replica's live channels, by user. */
export class LiveHub {
  private readonly byUser = new Map<string, Set<LiveChannel>>();

  add(channel: LiveChannel): void {
    let set = this.byUser.get(channel.openid);
    if (set === undefined) this.byUser.set(channel.openid, (set = new Set()));
    set.add(channel);
  }

  remove(channel: LiveChannel): void {
    const set = this.byUser.get(channel.openid);
    if (set?.delete(channel) && set.size === 0) this.byUser.delete(channel.openid);
  }

  /** Writes to every channel of the user here; resolves with how many took it. */
  async deliver(openid: string, message: RelayedMessage, until: number, overflow: Error): Promise<number> {
    const channels = this.byUser.get(openid);
    if (channels === undefined) return 0;
    const results = await Promise.all([...channels].map((c) => c.push(message, until, overflow)));
    return results.filter(Boolean).length;
  }

  /** Closes the user's channels of one session. */
  endSession(openid: string, sessionId: string, error: Error): void {
    for (const channel of this.byUser.get(openid) ?? []) {
      if (channel.sessionId === sessionId) channel.end(error, 'detached');
    }
  }

  /** Every channel here. */
  channels(): LiveChannel[] {
    return [...this.byUser.values()].flatMap((set) => [...set]);
  }

  get size(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }
}
