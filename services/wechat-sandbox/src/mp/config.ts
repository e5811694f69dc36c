import { commaList, envField, sensitive, type EnvField } from '@wxmesh/config';
import type { MpApp } from './store.js';

/**
 * `SANDBOX_APPS`: apps the sandbox knows from the start (and again after a reset), written
 * `appid:secret,appid2:secret2`, so `npm start` can serve a preconfigured mini-program. Marked
 * sensitive: a bad value is reported without echoing the secrets.
 */
export function sandboxApps(): EnvField<MpApp[]> {
  return sensitive(
    commaList(
      envField('appid:secret', (raw): MpApp | undefined => {
        const match = /^([A-Za-z0-9_-]+):(\S+)$/.exec(raw);
        return match ? { appid: match[1]!, secret: match[2]! } : undefined;
      }),
    ),
  );
}
