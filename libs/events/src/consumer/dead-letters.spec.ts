import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { deadLetterHeaders, describeError, DLQ_HEADERS } from './dead-letters.js';

describe('deadLetterHeaders', () => {
  it('keeps the record’s own headers and adds where, when and why it failed', () => {
    const message = {
      offset: '41',
      headers: { 'event-type': 'wxmesh.behaviour.v1.UserLoggedIn' },
    } as unknown as KafkaMessage;
    const headers = deadLetterHeaders(
      message,
      { partition: 3, reason: 'apply_failed', error: new TypeError('boom'), attempts: 5 },
      { groupId: 'projector', topic: 'wxmesh.behaviour.v1', failedAt: new Date(Date.UTC(2025, 0, 1)) },
    );
    assert.deepEqual(headers, {
      'event-type': 'wxmesh.behaviour.v1.UserLoggedIn',
      [DLQ_HEADERS.error]: 'TypeError: boom',
      [DLQ_HEADERS.reason]: 'apply_failed',
      [DLQ_HEADERS.attempts]: '5',
      [DLQ_HEADERS.group]: 'projector',
      [DLQ_HEADERS.topic]: 'wxmesh.behaviour.v1',
      [DLQ_HEADERS.partition]: '3',
      [DLQ_HEADERS.offset]: '41',
      [DLQ_HEADERS.failedAt]: '2025-01-01T00:00:00.000Z',
    });
  });
});

describe('describeError', () => {
  it('names the error and cuts its text at 1000 characters', () => {
    assert.equal(describeError('plain'), 'plain');
    const long = describeError(new Error('x'.repeat(2000)));
    assert.equal(long.length, 1001);
    assert.ok(long.startsWith('Error: xxx') && long.endsWith('…'));
  });
});
