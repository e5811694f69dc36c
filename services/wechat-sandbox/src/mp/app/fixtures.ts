import type { JsCodeFixture, OAuthCodeFixture, PhoneCodeFixture } from '../domain/fixtures.js';
import type { MpState } from '../state/index.js';

/** Registers a wx.login code; its openid becomes a user of the app. */
export function registerJsCode(state: MpState, fixture: JsCodeFixture): void {
  state.users.register(fixture.appid, fixture.openid);
  state.jsCodes.register(fixture.appid, fixture.js_code, fixture);
}

/** Registers a getPhoneNumber code. */
export function registerPhoneCode(state: MpState, fixture: PhoneCodeFixture): void {
  state.phoneCodes.register(fixture.appid, fixture.code, fixture);
}

/** Registers a web OAuth2 code. */
export function registerOAuthCode(state: MpState, fixture: OAuthCodeFixture): void {
  state.oauthCodes.register(fixture.appid, fixture.code, fixture);
}
