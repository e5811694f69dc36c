import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { DecryptUserDataRequest } from '@wxmesh/contracts';
import type { RpcContext } from '@wxmesh/rpc';
import { decryptOpenData, UserDataError, verifyRawDataSignature } from '@wxmesh/wechat';
import { userDataFailure } from '../domain/user-data-failure.js';
import { callersSession } from './callers-session.js';
import type { AuthDeps } from './deps.js';

/**
 * DecryptUserData: opens a `wx.getXxx` payload with the session's session_key, checking the raw
 * data's signature first when the client sent one.
 */
export async function decryptUserData(deps: AuthDeps, request: DecryptUserDataRequest, ctx: RpcContext) {
  const session = await callersSession(deps, request.sessionToken, ctx);
  const sessionKey = await deps.sessionKeys.read(session.openid, session.appid);
  if (sessionKey === undefined) {
    throw new ConnectError('no session_key is held for this session; log in again', Code.FailedPrecondition);
  }
  try {
    if (request.rawData !== '' || request.signature !== '') {
      verifyRawDataSignature(request.rawData, request.signature, sessionKey);
    }
    const opened = decryptOpenData(sessionKey, request.encryptedData, request.iv, session.appid);
    return { dataJson: opened.json, watermarkTime: timestampFromMs(opened.watermark.timestamp * 1000) };
  } catch (err) {
    if (err instanceof UserDataError) throw userDataFailure(err);
    throw err;
  }
}
