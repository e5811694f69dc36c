import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code } from '@connectrpc/connect';
import { UserDataError } from '@wxmesh/wechat';
import { userDataFailure } from './user-data-failure.js';

test('each user-data failure answers its own code; a bad signature says to log in again', () => {
  const answer = (reason: UserDataError['reason']) =>
    userDataFailure(new UserDataError(reason, `${reason} failed`));
  assert.equal(answer('malformed').code, Code.InvalidArgument);
  assert.equal(answer('watermark').code, Code.InvalidArgument);
  assert.equal(answer('decrypt').code, Code.FailedPrecondition);
  assert.equal(answer('decrypt').rawMessage, 'decrypt failed');
  assert.equal(answer('signature').code, Code.FailedPrecondition);
  assert.match(answer('signature').rawMessage, /^signature failed; .*log in again$/);
});
