import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SettingsError, readSettings } from '../../src/settings';

test('defaults when nothing is set', () => {
  const settings = readSettings({});
  assert.equal(settings.configPath, undefined);
  assert.equal(settings.grpcListen, '127.0.0.1:50051');
  assert.equal(settings.adminListen, '127.0.0.1:9902');
  assert.equal(settings.logLevel, 'info');
  assert.equal(settings.shutdownGraceMs, 300_000);
});

test('unix addresses are accepted with one or three slashes; --config wins over the environment', () => {
  assert.equal(readSettings({ KEYSWITCH_GRPC_LISTEN: 'unix:///run/k.sock' }).grpcListen, 'unix:/run/k.sock');
  assert.equal(readSettings({ KEYSWITCH_GRPC_LISTEN: 'unix:/run/k.sock' }).grpcListen, 'unix:/run/k.sock');
  assert.equal(readSettings({ KEYSWITCH_GRPC_LISTEN: '[::1]:0' }).grpcListen, '[::1]:0');
  assert.equal(readSettings({ KEYSWITCH_CONFIG: '/a.yaml' }, '/b.yaml').configPath, '/b.yaml');
});

test('every bad value is an error naming its variable', () => {
  const bad: Array<[string, string]> = [
    ['KEYSWITCH_LOG_LEVEL', 'verbose'],
    ['KEYSWITCH_GRPC_LISTEN', 'localhost'],
    ['KEYSWITCH_GRPC_LISTEN', 'unix:run.sock'],
    ['KEYSWITCH_ADMIN_LISTEN', '127.0.0.1:70000'],
    ['KEYSWITCH_GRPC_MAX_RECEIVE_BYTES', '1.5'],
    ['KEYSWITCH_GRPC_MAX_STREAMS', '-1'],
    ['KEYSWITCH_SHUTDOWN_GRACE_SECONDS', '0'],
    ['KEYSWITCH_CONFIG', '  '],
  ];
  for (const [name, value] of bad) {
    assert.throws(() => readSettings({ [name]: value }), (error: unknown) => error instanceof SettingsError && error.message.startsWith(name));
  }
});
