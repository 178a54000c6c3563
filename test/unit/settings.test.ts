import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SettingsError, closest, readSettings } from '../../src/settings';

test('defaults when nothing is set', () => {
  const settings = readSettings({});
  assert.equal(settings.configPath, undefined);
  assert.equal(settings.grpcListen, '127.0.0.1:50051');
  assert.equal(settings.adminListen, '127.0.0.1:9902');
  assert.equal(settings.logLevel, 'info');
  assert.equal(settings.drainMs, 10_000);
  assert.equal(settings.shutdownGraceMs, 15_000);
  assert.equal(settings.adminTokenFile, undefined);
});

test('unix addresses are accepted with one or three slashes; --config wins over the environment', () => {
  assert.equal(readSettings({ KEYSWITCH_GRPC_LISTEN: 'unix:///run/k.sock' }).grpcListen, 'unix:/run/k.sock');
  assert.equal(readSettings({ KEYSWITCH_GRPC_LISTEN: 'unix:/run/k.sock' }).grpcListen, 'unix:/run/k.sock');
  assert.equal(readSettings({ KEYSWITCH_GRPC_LISTEN: '[::1]:0' }).grpcListen, '[::1]:0');
  assert.equal(readSettings({ KEYSWITCH_CONFIG: '/a.yaml' }, '/b.yaml').configPath, '/b.yaml');
});

test('an admin listener off loopback needs a token file; loopback and unix sockets do not', () => {
  assert.throws(() => readSettings({ KEYSWITCH_ADMIN_LISTEN: '0.0.0.0:9902' }), /KEYSWITCH_ADMIN_LISTEN: 0\.0\.0\.0:9902 is off loopback/);
  assert.throws(() => readSettings({ KEYSWITCH_ADMIN_LISTEN: '[::]:9902' }), /off loopback/);
  assert.equal(readSettings({ KEYSWITCH_ADMIN_LISTEN: '0.0.0.0:9902', KEYSWITCH_ADMIN_TOKEN_FILE: '/run/token' }).adminTokenFile, '/run/token');
  for (const address of ['127.0.0.1:1', '127.1.2.3:1', '[::1]:1', 'localhost:1', 'unix:/run/admin.sock']) {
    assert.doesNotThrow(() => readSettings({ KEYSWITCH_ADMIN_LISTEN: address }), address);
  }
  assert.throws(() => readSettings({ KEYSWITCH_ADMIN_TOKEN_FILE: 'token' }), /KEYSWITCH_ADMIN_TOKEN_FILE: expected an absolute path/);
});

test('the ext_proc listener: off loopback only when allowed; socket group; reflection off by default', () => {
  assert.throws(() => readSettings({ KEYSWITCH_GRPC_LISTEN: '10.0.0.1:50051' }), /KEYSWITCH_GRPC_LISTEN: 10\.0\.0\.1:50051 is off loopback/);
  assert.equal(readSettings({ KEYSWITCH_GRPC_LISTEN: '0.0.0.0:50051', KEYSWITCH_GRPC_ALLOW_REMOTE: 'TRUE' }).grpcAllowRemote, true);
  assert.equal(readSettings({}).grpcReflection, false);
  assert.equal(readSettings({ KEYSWITCH_GRPC_REFLECTION: 'true' }).grpcReflection, true);
  assert.throws(() => readSettings({ KEYSWITCH_GRPC_REFLECTION: 'yes' }), /KEYSWITCH_GRPC_REFLECTION: expected true or false/);
  assert.equal(readSettings({ KEYSWITCH_GRPC_SOCKET_GROUP: '2000' }).grpcSocketGroup, 2000);
  assert.equal(readSettings({}).grpcSocketGroup, undefined);
  assert.throws(() => readSettings({ KEYSWITCH_GRPC_SOCKET_GROUP: 'envoy' }), /KEYSWITCH_GRPC_SOCKET_GROUP: expected a whole number/);
});

test('names are case-insensitive; a grace of 0 means close at once', () => {
  assert.equal(readSettings({ KEYSWITCH_LOG_LEVEL: 'DEBUG' }).logLevel, 'debug');
  assert.equal(readSettings({ KEYSWITCH_LOG_LEVEL: 'Warn' }).logLevel, 'warn');
  assert.equal(readSettings({ KEYSWITCH_SHUTDOWN_GRACE_SECONDS: '0' }).shutdownGraceMs, 0);
});

test('every bad value is an error naming its variable', () => {
  const bad: Array<[string, string]> = [
    ['KEYSWITCH_LOG_LEVEL', 'verbose'],
    ['KEYSWITCH_GRPC_LISTEN', 'localhost'],
    ['KEYSWITCH_GRPC_LISTEN', 'unix:run.sock'],
    ['KEYSWITCH_ADMIN_LISTEN', '127.0.0.1:70000'],
    ['KEYSWITCH_GRPC_MAX_RECEIVE_BYTES', '1.5'],
    ['KEYSWITCH_GRPC_MAX_STREAMS', '-1'],
    ['KEYSWITCH_GRPC_MAX_STREAMS', '0'],
    ['KEYSWITCH_SHUTDOWN_GRACE_SECONDS', '-1'],
    ['KEYSWITCH_SHUTDOWN_GRACE_SECONDS', '2147484'],
    ['KEYSWITCH_DRAIN_SECONDS', '99999999'],
    ['KEYSWITCH_CONFIG', '  '],
  ];
  for (const [name, value] of bad) {
    assert.throws(
      () => readSettings({ [name]: value }),
      (error: unknown) => error instanceof SettingsError && error.problems.length === 1 && error.message.startsWith(`${name}:`),
      `${name}=${value}`,
    );
  }
});

test('all problems are reported at once, unknown KEYSWITCH_ variables with the closest known name', () => {
  const env = { KEYSWITCH_LOG_LEVEL: 'loud', KEYSWITCH_GRPC_LISTN: '127.0.0.1:1', KEYSWITCH_GRPC_MAX_STREAMS: 'x', KEYSWITCH_SOMETHING_ELSE_ENTIRELY: '1' };
  assert.throws(
    () => readSettings(env),
    (error: unknown) => {
      assert.ok(error instanceof SettingsError);
      assert.equal(error.problems.length, 4, error.message);
      assert.match(error.message, /^KEYSWITCH_GRPC_LISTN: not a keyswitch setting; did you mean KEYSWITCH_GRPC_LISTEN\?$/m);
      assert.match(error.message, /^KEYSWITCH_SOMETHING_ELSE_ENTIRELY: not a keyswitch setting$/m);
      assert.match(error.message, /^KEYSWITCH_LOG_LEVEL: /m);
      assert.match(error.message, /^KEYSWITCH_GRPC_MAX_STREAMS: /m);
      return true;
    },
  );
  // Variables of other programs are not ours to judge.
  assert.doesNotThrow(() => readSettings({ KEYSWITCHER: 'x', HOME: '/root' }));
  // Kubernetes service links for a Service named keyswitch-gateway are not settings either.
  const links = {
    KEYSWITCH_GATEWAY_SERVICE_HOST: '10.0.0.1',
    KEYSWITCH_GATEWAY_SERVICE_PORT: '10000',
    KEYSWITCH_GATEWAY_SERVICE_PORT_HTTP: '10000',
    KEYSWITCH_GATEWAY_PORT: 'tcp://10.0.0.1:10000',
    KEYSWITCH_GATEWAY_PORT_10000_TCP: 'tcp://10.0.0.1:10000',
    KEYSWITCH_GATEWAY_PORT_10000_TCP_PROTO: 'tcp',
    KEYSWITCH_GATEWAY_PORT_10000_TCP_PORT: '10000',
    KEYSWITCH_GATEWAY_PORT_10000_TCP_ADDR: '10.0.0.1',
  };
  assert.doesNotThrow(() => readSettings(links));
});

test('closest suggests only near names', () => {
  assert.equal(closest('KEYSWITCH_CONFG', ['KEYSWITCH_CONFIG', 'KEYSWITCH_LOG_LEVEL']), 'KEYSWITCH_CONFIG');
  assert.equal(closest('KEYSWITCH_XYZ', ['KEYSWITCH_CONFIG', 'KEYSWITCH_LOG_LEVEL']), undefined);
});
