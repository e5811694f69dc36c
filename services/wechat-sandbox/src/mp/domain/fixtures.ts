/** A registered mini-program / official account: what `/cgi-bin/token` and friends authenticate. */
export interface MpApp {
  readonly appid: string;
  readonly secret: string;
}

/** A wx.login code as `jscode2session` will resolve it. `session_key` is base64 of 16 bytes. */
export interface JsCodeFixture {
  readonly appid: string;
  readonly js_code: string;
  readonly openid: string;
  readonly session_key: string;
  readonly unionid?: string;
}

/** A getPhoneNumber code as `getuserphonenumber` will resolve it. */
export interface PhoneCodeFixture {
  readonly appid: string;
  readonly code: string;
  readonly phoneNumber: string;
  readonly purePhoneNumber: string;
  readonly countryCode: string;
}

/** A web OAuth2 code as `/sns/oauth2/access_token` will resolve it. */
export interface OAuthCodeFixture {
  readonly appid: string;
  readonly code: string;
  readonly openid: string;
  readonly scope: string;
  readonly unionid?: string;
  readonly is_snapshotuser?: number;
}
