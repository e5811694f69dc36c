import { unixSeconds } from '../domain/limits.js';
import type { MpState } from '../state/index.js';
import { appOfToken } from './authenticate.js';

/**
 * `/wxa/business/getuserphonenumber`: the code's phone number, once. The body is read only after
 * the token passed (`readCode`), so a bad token wins over a bad body, as at WeChat.
 */
export function phoneNumber(
  state: MpState,
  accessToken: string | undefined,
  readCode: () => string | undefined,
) {
  const appid = appOfToken(state, accessToken, '/wxa/business/getuserphonenumber');
  const { fixture, registeredAt } = state.phoneCodes.take(appid, readCode(), 40029);
  state.counters.count(appid, 'phoneNumbersIssued');
  return {
    errcode: 0,
    errmsg: 'ok',
    phone_info: {
      phoneNumber: fixture.phoneNumber,
      purePhoneNumber: fixture.purePhoneNumber,
      countryCode: fixture.countryCode,
      watermark: { timestamp: unixSeconds(registeredAt), appid },
    },
  };
}
