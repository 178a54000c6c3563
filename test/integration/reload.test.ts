import assert from 'node:assert/strict';
import { test } from 'node:test';
import { credentialsSince, withGateway } from '../support/gateway';
import { eventually } from '../support/keyswitch';
import { KubeletVolume } from '../support/kubelet-volume';

// Hot reload through a folder swapped the way kubelet updates a mounted ConfigMap and Secret.

function config(dir: string, extra = '', accountsExtra = ''): string {
  return `
pools:
  - name: openai
    failover: { statuses: [429, 529], disableOn: [401] }
${extra}
    accounts:
      - { id: a, secret: { file: ${dir}/key-a }, priority: 0 }
      - { id: b, secret: { file: ${dir}/key-b }, priority: 1 }
${accountsExtra}
`;
}

function reloads(logs: Record<string, unknown>[], msg: string): number {
  return logs.filter((line) => line.msg === msg).length;
}

test('a rotated key swapped in mid-traffic: 0 failed requests, the new key on the next attempt, the disabled account back', async () => {
  const volume = await KubeletVolume.create({ 'key-a': 'key-a-1\n', 'key-b': 'key-b-1\n', 'config.yaml': '' });
  await volume.update({ 'key-a': 'key-a-1\n', 'key-b': 'key-b-1\n', 'config.yaml': config(volume.dir) });
  try {
    await withGateway({ configPath: volume.path('config.yaml') }, async (gateway) => {
      gateway.upstream.setAnswer('key-a-1', { status: 401 });
      assert.equal((await gateway.send()).status, 200);
      assert.equal(reloads(gateway.keyswitch.logs, 'account disabled until its probe'), 1);

      // Bounded traffic, four at a time, while the Secret is rotated underneath.
      const statuses: number[] = [];
      let rotated = false;
      for (let round = 0; round < 30; round++) {
        if (round === 10) {
          await volume.update({ 'key-a': 'key-a-2\n', 'key-b': 'key-b-1\n', 'config.yaml': config(volume.dir) });
          rotated = true;
        }
        statuses.push(...(await Promise.all([0, 1, 2, 3].map(() => gateway.send()))).map((r) => r.status));
        if (rotated && reloads(gateway.keyswitch.logs, 'config reloaded') > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await eventually(() => reloads(gateway.keyswitch.logs, 'config reloaded') === 1, 'the swap was reloaded');
      assert.deepEqual(statuses.filter((status) => status !== 200), [], 'no request failed across the reload');
      const seen = gateway.upstream.calls.length;
      assert.equal((await gateway.send()).status, 200);
      assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a-2'], 'the rotated key re-enabled a and is used at once');
      const line = gateway.keyswitch.logs.find((entry) => entry.msg === 'config reloaded')!;
      assert.equal(line.rotated, 1);
      assert.ok(!gateway.keyswitch.rawLogs().includes('key-a-2'), 'no key in the logs');
    });
  } finally {
    await volume.remove();
  }
});

test('cooldowns carry over a reload; a removed account is no longer chosen, a new one is', async () => {
  const volume = await KubeletVolume.create({ 'key-a': 'key-a-1', 'key-b': 'key-b-1', 'key-c': 'key-c-1', 'config.yaml': '' });
  await volume.update({ 'key-a': 'key-a-1', 'key-b': 'key-b-1', 'key-c': 'key-c-1', 'config.yaml': config(volume.dir) });
  try {
    await withGateway({ configPath: volume.path('config.yaml') }, async (gateway) => {
      gateway.upstream.setAnswer('key-a-1', { status: 429, headers: { 'retry-after': '600' } });
      await gateway.send();
      // b removed, c added.
      const next = config(volume.dir).replace(`      - { id: b, secret: { file: ${volume.dir}/key-b }, priority: 1 }`, `      - { id: c, secret: { file: ${volume.dir}/key-c }, priority: 1 }`);
      await volume.update({ 'key-a': 'key-a-1', 'key-b': 'key-b-1', 'key-c': 'key-c-1', 'config.yaml': next });
      await eventually(() => reloads(gateway.keyswitch.logs, 'config reloaded') === 1, 'reloaded');
      const seen = gateway.upstream.calls.length;
      for (let i = 0; i < 3; i++) assert.equal((await gateway.send()).status, 200);
      assert.deepEqual(credentialsSince(gateway, seen), Array(3).fill('Bearer key-c-1'), 'a still cools, b is gone, c serves');
    });
  } finally {
    await volume.remove();
  }
});

test('ten broken changes each keep the last good config and count a failure', async () => {
  const good = { 'key-a': 'key-a-1', 'key-b': 'key-b-1' };
  const volume = await KubeletVolume.create({ ...good, 'config.yaml': '' });
  const dir = volume.dir;
  await volume.update({ ...good, 'config.yaml': config(dir) });
  const broken: Array<[string, Record<string, string | null>]> = [
    ['YAML syntax', { ...good, 'config.yaml': 'pools: [ { name: openai' }],
    ['unknown key', { ...good, 'config.yaml': config(dir, '    retries: 3') }],
    ['bad duration', { ...good, 'config.yaml': config(dir, '    cooldown: { default: 30 seconds }') }],
    ['status out of range', { ...good, 'config.yaml': config(dir).replace('statuses: [429, 529]', 'statuses: [429, 600]') }],
    ['duplicate account id', { ...good, 'config.yaml': config(dir, '', `      - { id: a, secret: { file: ${dir}/key-b } }`) }],
    ['missing secret file', { 'key-b': 'key-b-1', 'config.yaml': config(dir) }],
    ['empty secret file', { 'key-a': '', 'key-b': 'key-b-1', 'config.yaml': config(dir) }],
    ['secret that is a folder', { 'key-a': null, 'key-b': 'key-b-1', 'config.yaml': config(dir) }],
    ['a status in both statuses and disableOn', { ...good, 'config.yaml': config(dir).replace('disableOn: [401]', 'disableOn: [401, 429]') }],
    ['health fraction over 1', { ...good, 'config.yaml': config(dir, '    health: { maxDisabledFraction: 2 }') }],
  ];
  try {
    await withGateway({ configPath: volume.path('config.yaml') }, async (gateway) => {
      for (const [index, [name, files]] of broken.entries()) {
        await volume.update(files);
        await eventually(() => reloads(gateway.keyswitch.logs, 'config reload failed: keeping the last good config') === index + 1, name);
        const failure = gateway.keyswitch.logs.filter((line) => line.msg === 'config reload failed: keeping the last good config').at(-1)!;
        assert.ok((failure.problems as string[]).every((problem) => problem.startsWith(volume.path('config.yaml'))), `${name}: file and field path`);
        const seen = gateway.upstream.calls.length;
        assert.equal((await gateway.send()).status, 200, name);
        assert.deepEqual(credentialsSince(gateway, seen), ['Bearer key-a-1'], `${name}: the last good config serves`);
      }
      const metrics = await (await fetch(`http://${gateway.keyswitch.app.adminAddress}/metrics`)).text();
      assert.match(metrics, /^keyswitch_config_reloads_total\{result="failure"\} 10$/m);
      assert.match(metrics, /^keyswitch_config_reloads_total\{result="success"\} 0$/m);
      assert.ok(!gateway.keyswitch.rawLogs().includes('key-a-1'), 'no key in the logs');
    });
  } finally {
    await volume.remove();
  }
});
