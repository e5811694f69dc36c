import { Code, ConnectError } from '@connectrpc/connect';
import type { UserDataError } from '@wxmesh/wechat';

const CODES: Record<UserDataError['reason'], Code> = {
  malformed: Code.InvalidArgument,
  signature: Code.FailedPrecondition,
  decrypt: Code.FailedPrecondition,
  watermark: Code.InvalidArgument,
};

/**
 * What DecryptUserData answers when the payload does not open: malformed input and a foreign
 * watermark are the caller's mistake; a bad signature or decrypt usually means a later wx.login
 * replaced the session_key, which a new login fixes.
 */
export function userDataFailure(err: UserDataError): ConnectError {
  const hint =
    err.reason === 'signature'
      ? '; the session_key may have been replaced by a later wx.login: log in again'
      : '';
  return new ConnectError(`${err.message}${hint}`, CODES[err.reason]);
}
