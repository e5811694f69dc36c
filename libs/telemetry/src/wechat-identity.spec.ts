import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import {
  WECHAT_HEADERS,
  wechatFromBaggage,
  wechatFromHeaders,
  wechatSpanAttributes,
  wechatToHeaders,
  withWeChatBaggage,
  type WeChatIdentity,
} from './index.js';

const FULL: Required<WeChatIdentity> = {
  openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
  appid: 'wx1234567890abcdef',
  unionid: 'o6_bmasdasdsad6_2sgVt7hMZOPfL',
  fromOpenid: 'oFrom8uMuAJO_M2pxb1Q9zNjWeS6o',
  fromAppid: 'wxfedcba0987654321',
  env: 'prod-1a2b3c',
  source: 'wx_client',
};

const fromRecord = (headers: Record<string, string | string[]>) => (name: string) => headers[name];

describe('WECHAT_HEADERS', () => {
  it('names the lowercase x-wx-* header and wechat.* attribute of every field', () => {
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(WECHAT_HEADERS).map(([field, spec]) => [field, [spec.header, spec.attribute]]),
      ),
      {
        openid: ['x-wx-openid', 'wechat.openid'],
        appid: ['x-wx-appid', 'wechat.appid'],
        unionid: ['x-wx-unionid', 'wechat.unionid'],
        fromOpenid: ['x-wx-from-openid', 'wechat.from_openid'],
        fromAppid: ['x-wx-from-appid', 'wechat.from_appid'],
        env: ['x-wx-env', 'wechat.env'],
        source: ['x-wx-source', 'wechat.source'],
      },
    );
  });
});

describe('wechatFromHeaders', () => {
  it('reads every field and trims it', () => {
    const headers: Record<string, string> = {};
    for (const [field, spec] of Object.entries(WECHAT_HEADERS)) {
      headers[spec.header] = `  ${FULL[field as keyof WeChatIdentity]}\t`;
    }
    assert.deepEqual(wechatFromHeaders(fromRecord(headers)), FULL);
  });

  it('drops empty, oversized, non-ASCII and control-character values without throwing', () => {
    const id = wechatFromHeaders(
      fromRecord({
        'x-wx-openid': 'a'.repeat(129),
        'x-wx-appid': 'a'.repeat(128),
        'x-wx-unionid': '   ',
        'x-wx-from-openid': 'abc\r\nx-injected: 1',
        'x-wx-from-appid': 'wx中文',
        'x-wx-env': 'env\u0000',
        'x-wx-source': 'wx_client',
      }),
    );
    assert.deepEqual(id, { appid: 'a'.repeat(128), source: 'wx_client' });
  });

  it('takes the first value of a repeated header', () => {
    assert.deepEqual(wechatFromHeaders(fromRecord({ 'x-wx-openid': ['first', 'second'] })), {
      openid: 'first',
    });
  });

  it('asks only for lowercase names', () => {
    const asked: string[] = [];
    wechatFromHeaders((name) => {
      asked.push(name);
      return undefined;
    });
    assert.deepEqual(
      asked,
      Object.values(WECHAT_HEADERS).map((spec) => spec.header),
    );
  });
});

describe('wechatToHeaders', () => {
  it('writes lowercase x-wx-* headers and skips values that could break a header', () => {
    const written: [string, string][] = [];
    wechatToHeaders({ openid: 'o1', appid: 'wx\r\nevil', env: ' e1 ' }, (name, value) =>
      written.push([name, value]),
    );
    assert.deepEqual(written, [
      ['x-wx-openid', 'o1'],
      ['x-wx-env', 'e1'],
    ]);
  });

  it('round-trips through wechatFromHeaders', () => {
    const headers: Record<string, string> = {};
    wechatToHeaders(FULL, (name, value) => (headers[name] = value));
    assert.deepEqual(wechatFromHeaders(fromRecord(headers)), FULL);
  });
});

describe('wechatSpanAttributes', () => {
  it('maps fields to wechat.* attributes and leaves absent ones out', () => {
    assert.deepEqual(wechatSpanAttributes({ openid: 'o1', fromAppid: 'wx2' }), {
      'wechat.openid': 'o1',
      'wechat.from_appid': 'wx2',
    });
  });
});

describe('WeChat identity in baggage', () => {
  it('round-trips the identity and keeps unrelated baggage entries', () => {
    const withOther = propagation.setBaggage(
      ROOT_CONTEXT,
      propagation.createBaggage({ tenant: { value: 't1' } }),
    );
    const ctx = withWeChatBaggage(withOther, FULL);
    assert.deepEqual(wechatFromBaggage(ctx), FULL);
    assert.equal(propagation.getBaggage(ctx)?.getEntry('tenant')?.value, 't1');
    assert.equal(propagation.getBaggage(ctx)?.getEntry('wechat.from_openid')?.value, FULL.fromOpenid);
  });

  it('replaces every wechat.* entry, so a forged baggage identity does not survive', () => {
    const forged = propagation.setBaggage(
      ROOT_CONTEXT,
      propagation.createBaggage({
        'wechat.openid': { value: 'victim' },
        'wechat.unionid': { value: 'u-victim' },
      }),
    );
    const ctx = withWeChatBaggage(forged, { openid: 'real' });
    assert.deepEqual(wechatFromBaggage(ctx), { openid: 'real' });
    assert.deepEqual(wechatFromBaggage(withWeChatBaggage(forged, {})), {});
  });

  it('returns the same context when nothing changes', () => {
    assert.equal(withWeChatBaggage(ROOT_CONTEXT, {}), ROOT_CONTEXT);
    const ctx = withWeChatBaggage(ROOT_CONTEXT, { openid: 'o1', appid: 'wx1' });
    assert.equal(withWeChatBaggage(ctx, { appid: 'wx1', openid: 'o1' }), ctx);
    assert.notEqual(withWeChatBaggage(ctx, { openid: 'o1' }), ctx);
  });

  it('reads nothing from a context without baggage', () => {
    assert.deepEqual(wechatFromBaggage(ROOT_CONTEXT), {});
  });
});
