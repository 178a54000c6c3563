// envoy/kubernetes/ is checked twice: every manifest against the Kubernetes API schemas
// (kubernetes-models: its validate(), plus its declarations for unknown fields), then for the
// settings keyswitch and envoy/envoy.yaml depend on. Nothing here talks to a cluster.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import * as YAML from 'yaml';
import { parseConfig } from '../../src/config';
import { SETTINGS, readSettings } from '../../src/settings';
import { type Manifest, type NamedManifest, declarationProblems, schemaProblems, validateManifests } from '../support/kubernetes-schema';
import { listenOnLoopback } from '../support/listen';
import { readRepoFile, repoPath } from '../support/repo-files';

// ---- the manifests ----

const DIR = repoPath('envoy', 'kubernetes');
/** Relative paths; examples/ holds what `kubectl apply -f envoy/kubernetes/` must not apply. */
const FILES = (fs.readdirSync(DIR, { recursive: true }) as string[]).filter((file) => /\.ya?ml$/.test(file)).sort();

/** kubectl reads manifests as YAML 1.1 (sigs.k8s.io/yaml); so does this test. */
function parseFile(file: string, version: '1.1' | '1.2'): Manifest[] {
  const docs = YAML.parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8'), { version, uniqueKeys: true, strict: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  for (const doc of docs) {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${file}: ${problems.map((p) => p.message).join('; ')}`);
  }
  return docs.map((doc) => doc.toJS() as Manifest);
}

const MANIFESTS: NamedManifest[] = FILES.flatMap((file) =>
  parseFile(file, '1.1').map((manifest, index) => ({
    name: `${file}#${index} ${manifest.kind}/${(manifest.metadata as { name?: string } | undefined)?.name}`,
    manifest,
  })),
);

// ---- the parts of the objects this test reads (the schema check has proved the shapes) ----
interface Meta { name: string; namespace?: string; labels?: Record<string, string> }
interface EnvVar { name: string; value?: string }
interface Port { name?: string; containerPort: number }
interface Probe { httpGet?: { path: string; port: number | string }; tcpSocket?: { port: number | string } }
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  restartPolicy?: string;
  env?: EnvVar[];
  ports?: Port[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  emptyDir?: { medium?: string };
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: { secretName: string; defaultMode?: number; items?: unknown[] };
}
interface PodSpec {
  initContainers: Container[];
  containers: Container[];
  volumes: Volume[];
  terminationGracePeriodSeconds: number;
  securityContext: SecurityContext & { fsGroup?: number };
  enableServiceLinks?: boolean;
  automountServiceAccountToken?: boolean;
}
interface Deployment { metadata: Meta; spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: Meta; spec: PodSpec } } }
interface NetworkPolicyPeer { podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: { matchLabels?: Record<string, string> }; ipBlock?: unknown }
interface NetworkPolicy {
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: string[];
    ingress: { from?: NetworkPolicyPeer[]; ports?: { protocol?: string; port: number | string }[] }[];
  };
}
interface Service { spec: { type?: string; selector: Record<string, string>; ports: { port: number; targetPort?: number | string }[] } }

function only<T>(kind: string, name?: string): T {
  const found = MANIFESTS.filter(({ manifest }) => manifest.kind === kind && (name === undefined || (manifest.metadata as Meta).name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name ? ` named ${name}` : ''} under envoy/kubernetes/`);
  return found[0]!.manifest as unknown as T;
}

const deployment = only<Deployment>('Deployment');
const pod = deployment.spec.template.spec;
const podLabels = deployment.spec.template.metadata.labels ?? {};
const keyswitch = pod.initContainers.find((c) => c.name === 'keyswitch');
const envoy = pod.containers.find((c) => c.name === 'envoy');

function envOf(container: Container): Map<string, string> {
  const env = new Map<string, string>();
  for (const variable of container.env ?? []) {
    assert.ok(!env.has(variable.name), `${container.name}: ${variable.name} set twice`);
    assert.equal(typeof variable.value, 'string', `${container.name}: ${variable.name} has a literal value`);
    env.set(variable.name, variable.value!);
  }
  return env;
}
const keyswitchEnv = envOf(keyswitch!);
const envoyEnv = envOf(envoy!);

function setting(env: Map<string, string>, name: string): string {
  const value = env.get(name);
  assert.ok(value !== undefined, `${name} is set`);
  return value;
}
const seconds = (env: Map<string, string>, name: string): number => {
  const text = setting(env, name);
  assert.match(text, /^\d+$/, `${name} is a whole number of seconds`);
  return Number(text);
};

/** A probe's or Service's port, by number or by the container's port name. */
function resolvePort(container: Container, port: number | string | undefined): number {
  if (typeof port === 'number') return port;
  const named = container.ports?.find((p) => p.name === port);
  assert.ok(named, `${container.name} has a port named ${String(port)}`);
  return named.containerPort;
}

/** The volume mounted at the folder holding `file` in `container`, and the file's path inside it. */
function mountOf(container: Container, file: string): { volume: Volume; relative: string } {
  const mount = container.volumeMounts?.find((m) => file.startsWith(m.mountPath.replace(/\/?$/, '/')));
  assert.ok(mount, `${container.name} mounts a volume holding ${file}`);
  assert.equal(mount.subPath, undefined, `${mount.mountPath}: a subPath mount never sees the kubelet's updates`);
  const volume = pod.volumes.find((v) => v.name === mount.name);
  assert.ok(volume, `volume ${mount.name} is defined`);
  return { volume, relative: path.posix.relative(mount.mountPath, file) };
}

function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([key, value]) => labels[key] === value);
}

// ---- envoy/envoy.yaml, the other side of every contract ----
interface EnvoyConfig {
  admin: { address: { socket_address: { address: string; port_value: number } } };
  static_resources: {
    listeners: { name: string; address: { socket_address: { port_value: number } }; filter_chains: { filters: { typed_config: { stat_prefix?: string } }[] }[] }[];
    clusters: { name: string; load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { pipe?: { path: string } } } }[] }[] }; typed_extension_protocol_options?: Record<string, { http_filters?: { name: string; typed_config: { grpc_service?: { envoy_grpc?: { cluster_name: string } } } }[] }> }[];
  };
}
const envoyConfig = YAML.parse(readRepoFile('envoy', 'envoy.yaml'), { uniqueKeys: true, strict: true }) as EnvoyConfig;
const keyswitchCluster = envoyConfig.static_resources.clusters.find((c) => c.name === 'keyswitch')!;
const SOCKET_PATH = keyswitchCluster.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.pipe!.path;
const gatewayListener = envoyConfig.static_resources.listeners.find((l) => l.name === 'keyswitch_gateway')!;
const GATEWAY_PORT = gatewayListener.address.socket_address.port_value;
const HCM_STAT_PREFIX = gatewayListener.filter_chains[0]!.filters[0]!.typed_config.stat_prefix!;
/** Clusters whose upstream filter chain asks keyswitch. */
const KEYSWITCH_CLUSTERS = envoyConfig.static_resources.clusters
  .filter((c) => Object.values(c.typed_extension_protocol_options ?? {}).some((o) => o.http_filters?.some((f) => f.typed_config.grpc_service?.envoy_grpc?.cluster_name === 'keyswitch')))
  .map((c) => c.name);

describe('envoy/kubernetes/ against the Kubernetes API schemas', () => {
  it('has the objects a gateway needs, namespace-agnostic, each read the same as YAML 1.1 and 1.2', () => {
    assert.deepEqual(
      MANIFESTS.map(({ manifest }) => manifest.kind).sort(),
      ['ConfigMap', 'Deployment', 'NetworkPolicy', 'PodDisruptionBudget', 'Secret', 'Secret', 'Service'],
    );
    for (const { name, manifest } of MANIFESTS) {
      const metadata = manifest.metadata as Meta;
      assert.equal(metadata.namespace, undefined, `${name}: no namespace, so kubectl apply -n picks it`);
      assert.deepEqual(metadata.labels, { 'app.kubernetes.io/name': 'keyswitch', 'app.kubernetes.io/component': 'gateway' }, name);
    }
    // `kubectl apply -f envoy/kubernetes/` (not recursive) applies everything but the placeholder
    // Secrets, so it never overwrites the real ones.
    for (const { name, manifest } of MANIFESTS) assert.equal(name.startsWith('examples/'), manifest.kind === 'Secret', name);
    // A leading 0 (octal in 1.1), yes/no/on/off (booleans in 1.1): kubectl and other tools would disagree.
    for (const file of FILES) assert.deepEqual(parseFile(file, '1.2'), parseFile(file, '1.1'), `${file} reads the same in YAML 1.1 and 1.2`);
  });

  it('every manifest is valid: schema types, enums and required fields, and no unknown field', async () => {
    const problems = await validateManifests(MANIFESTS);
    for (const { name } of MANIFESTS) assert.deepEqual(problems.get(name), [], name);
  });

  it('a broken copy fails: an unknown field and a wrong type are each caught, together and alone', async () => {
    const broken = structuredClone(deployment) as unknown as Manifest & Deployment;
    const container = broken.spec.template.spec.containers[0] as unknown as Record<string, unknown>;
    container.readOnlyRootFileSystem = true; // unknown: the field is readOnlyRootFilesystem, in securityContext
    (broken.spec as unknown as Record<string, unknown>).replicas = 'two'; // wrong type: an integer
    const both = (await validateManifests([{ name: 'broken', manifest: broken }])).get('broken')!;
    assert.ok(both.some((p) => /readOnlyRootFileSystem/.test(p)), both.join('\n'));
    assert.ok(both.some((p) => /replicas/.test(p)), both.join('\n'));

    const unknownOnly = structuredClone(deployment) as unknown as Manifest & Deployment;
    (unknownOnly.spec.template.spec.initContainers[0]!.securityContext as Record<string, unknown>).readOnlyRootFileSystem = true;
    // The schema pass alone accepts it (the OpenAPI schemas leave objects open)...
    assert.deepEqual(await schemaProblems(unknownOnly), []);
    // ...the declaration pass does not, even this deep.
    const unknownProblems = declarationProblems([{ name: 'unknown', manifest: unknownOnly }]).get('unknown')!;
    assert.equal(unknownProblems.length, 1, unknownProblems.join('\n'));
    assert.match(unknownProblems[0]!, /readOnlyRootFileSystem.*does not exist in type/);

    const wrongTypeOnly = structuredClone(deployment) as unknown as Manifest & Deployment;
    (wrongTypeOnly.spec.template.spec.containers[0]!.ports![0] as unknown as Record<string, unknown>).containerPort = '10000';
    assert.match((await schemaProblems(wrongTypeOnly)).join('\n'), /containerPort must be integer/);
    assert.equal(declarationProblems([{ name: 'type', manifest: wrongTypeOnly }]).get('type')!.length, 1);

    // An enum value the schema does not know.
    const badEnum = structuredClone(deployment) as unknown as Manifest & Deployment;
    badEnum.spec.template.spec.containers[0]!.securityContext!.seccompProfile = { type: 'Default' };
    assert.notDeepEqual(await schemaProblems(badEnum), []);
    // A kind that does not exist.
    assert.match((await schemaProblems({ apiVersion: 'apps/v1', kind: 'Deploymnet' })).join(''), /no such kind/);
  });
});

describe('envoy/kubernetes/deployment.yaml: the settings keyswitch depends on', () => {
  it('keyswitch is a native sidecar (an init container with restartPolicy Always) probed for startup; Envoy a regular container', () => {
    assert.ok(keyswitch, 'keyswitch is in initContainers');
    assert.equal(pod.initContainers.length, 1);
    assert.equal(keyswitch.restartPolicy, 'Always');
    assert.ok(keyswitch.startupProbe, 'a startupProbe: the kubelet starts Envoy only once it passes');
    assert.ok(keyswitch.readinessProbe);
    assert.ok(envoy, 'envoy is in containers');
    assert.deepEqual(pod.containers.map((c) => c.name), ['envoy']);
    assert.equal(envoy.restartPolicy, undefined);
    const tag = /^envoyproxy\/envoy:v(\d+)\.(\d+)\.(\d+)$/.exec(envoy.image);
    assert.ok(tag, `${envoy.image} is a released Envoy tag`);
    assert.ok(Number(tag[1]) > 1 || Number(tag[2]) >= 37, `${envoy.image}: Envoy >= 1.37.0 (envoy/README.md)`);
  });

  it("keyswitch listens on the socket of envoy.yaml's keyswitch cluster, in a memory emptyDir both containers mount", () => {
    assert.equal(SOCKET_PATH, '/var/run/keyswitch/ext_proc.sock');
    assert.equal(setting(keyswitchEnv, 'KEYSWITCH_GRPC_LISTEN'), `unix:${SOCKET_PATH}`);
    const folder = path.posix.dirname(SOCKET_PATH);
    const fromKeyswitch = keyswitch!.volumeMounts!.filter((m) => m.mountPath === folder);
    const fromEnvoy = envoy!.volumeMounts!.filter((m) => m.mountPath === folder);
    assert.equal(fromKeyswitch.length, 1, `keyswitch mounts ${folder}`);
    assert.equal(fromEnvoy.length, 1, `envoy mounts ${folder}`);
    assert.equal(fromKeyswitch[0]!.name, fromEnvoy[0]!.name, 'the same volume');
    assert.notEqual(fromKeyswitch[0]!.readOnly, true, 'keyswitch creates the socket');
    const volume = pod.volumes.find((v) => v.name === fromKeyswitch[0]!.name)!;
    assert.deepEqual(Object.keys(volume).sort(), ['emptyDir', 'name'], 'an emptyDir, private to the pod');
    assert.equal(volume.emptyDir!.medium, 'Memory');
  });

  it('the pod fsGroup is the group keyswitch gives the socket, and neither container runs in it as primary group', () => {
    const fsGroup = pod.securityContext.fsGroup;
    assert.ok(Number.isInteger(fsGroup) && fsGroup! > 0, 'fsGroup set');
    assert.equal(setting(keyswitchEnv, 'KEYSWITCH_GRPC_SOCKET_GROUP'), String(fsGroup));
    // Envoy reaches the 0660 socket through the fsGroup, as a supplemental group.
    assert.notEqual(envoy!.securityContext!.runAsUser, keyswitch!.securityContext!.runAsUser, 'two users: the group is the only way in');
  });

  it('probes are HTTP on the admin port: startup and readiness on /readyz, liveness on /healthz', () => {
    const admin = setting(keyswitchEnv, 'KEYSWITCH_ADMIN_LISTEN');
    assert.equal(admin, '0.0.0.0:9902', 'the pod IP, where the kubelet and Prometheus reach it');
    const adminPort = Number(admin.slice(admin.lastIndexOf(':') + 1));
    const probes = { startupProbe: '/readyz', readinessProbe: '/readyz', livenessProbe: '/healthz' } as const;
    for (const [probe, route] of Object.entries(probes)) {
      const spec = keyswitch![probe as keyof typeof probes];
      assert.ok(spec?.httpGet, `${probe} is an HTTP probe (no gRPC probe can reach a unix socket)`);
      assert.deepEqual(Object.keys(spec).filter((k) => ['httpGet', 'tcpSocket', 'grpc', 'exec'].includes(k)), ['httpGet'], probe);
      assert.equal(spec.httpGet.path, route, probe);
      assert.equal(resolvePort(keyswitch!, spec.httpGet.port), adminPort, `${probe} on the admin port`);
    }
    assert.ok(keyswitch!.ports!.some((p) => p.containerPort === adminPort));
  });

  it('the admin token file is set (required off loopback) and mounted from a Secret that has it', () => {
    const tokenFile = setting(keyswitchEnv, 'KEYSWITCH_ADMIN_TOKEN_FILE');
    const { volume, relative } = mountOf(keyswitch!, tokenFile);
    assert.ok(volume.secret, `${tokenFile} comes from a Secret`);
    const secret = only<{ stringData: Record<string, string> }>('Secret', volume.secret.secretName);
    assert.ok(relative in secret.stringData, `Secret ${volume.secret.secretName} has the key ${relative}`);
    assert.ok(!envoy!.volumeMounts!.some((m) => m.name === volume.name), 'Envoy does not mount the admin token');
  });

  it('every KEYSWITCH_* variable is a keyswitch setting, and keyswitch accepts their values', () => {
    const known = new Set(SETTINGS.map((s) => s.name));
    for (const name of keyswitchEnv.keys()) {
      assert.ok(name.startsWith('KEYSWITCH_'), `${name}: keyswitch reads only KEYSWITCH_* settings`);
      assert.ok(known.has(name), `${name} is not a keyswitch setting`);
    }
    for (const name of envoyEnv.keys()) assert.ok(!name.startsWith('KEYSWITCH_'), `envoy: ${name} belongs in the keyswitch container`);
    // The same check keyswitch makes at start (values, absolute paths, the token off loopback).
    const settings = readSettings(Object.fromEntries(keyswitchEnv));
    assert.equal(settings.grpcListen, `unix:${SOCKET_PATH}`);
    assert.equal(settings.grpcSocketGroup, pod.securityContext?.fsGroup);
    assert.equal(settings.adminTokenFile, keyswitchEnv.get('KEYSWITCH_ADMIN_TOKEN_FILE'));
    // Service links would add KEYSWITCH_GATEWAY_PORT and the like, which keyswitch refuses.
    assert.equal(pod.enableServiceLinks, false);
  });

  it('terminationGracePeriodSeconds covers Envoy\'s drain, then keyswitch\'s drain and shutdown grace', () => {
    const envoyDrain = seconds(envoyEnv, 'ENVOY_DRAIN_MAX_SECONDS');
    const listenerDrain = seconds(envoyEnv, 'ENVOY_DRAIN_TIME_SECONDS');
    const drain = seconds(keyswitchEnv, 'KEYSWITCH_DRAIN_SECONDS');
    const grace = seconds(keyswitchEnv, 'KEYSWITCH_SHUTDOWN_GRACE_SECONDS');
    assert.ok(listenerDrain <= envoyDrain, 'the listener drain fits in the preStop bound');
    assert.ok(pod.terminationGracePeriodSeconds >= drain + grace, 'keyswitch drain + shutdown grace');
    assert.ok(pod.terminationGracePeriodSeconds >= envoyDrain + drain + grace, 'Envoy drain + keyswitch drain + shutdown grace');
    // Envoy's --drain-time-s is the listener drain the preStop waits for at least.
    const args = envoy!.args!;
    assert.equal(args[args.indexOf('--drain-time-s') + 1], '$(ENVOY_DRAIN_TIME_SECONDS)');
  });

  it('both containers run hardened: non-root, read-only root, no privilege escalation, no capability, RuntimeDefault seccomp', () => {
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault');
    assert.equal(pod.automountServiceAccountToken, false, 'no API token in the pod');
    for (const container of [keyswitch!, envoy!]) {
      const sc = container.securityContext!;
      assert.ok(sc, `${container.name}: securityContext`);
      assert.equal(sc.runAsNonRoot, true, container.name);
      assert.ok(Number.isInteger(sc.runAsUser) && sc.runAsUser! > 0, `${container.name}: a numeric non-root user`);
      assert.ok(Number.isInteger(sc.runAsGroup) && sc.runAsGroup! > 0, `${container.name}: a non-root group`);
      assert.equal(sc.readOnlyRootFilesystem, true, container.name);
      assert.equal(sc.allowPrivilegeEscalation, false, container.name);
      assert.notEqual(sc.privileged, true, container.name);
      assert.deepEqual(sc.capabilities, { drop: ['ALL'] }, container.name);
      assert.equal(sc.seccompProfile?.type, 'RuntimeDefault', container.name);
      const { requests, limits } = container.resources ?? {};
      assert.ok(requests?.cpu && requests.memory, `${container.name}: CPU and memory requests`);
      assert.ok(limits?.memory, `${container.name}: a memory limit`);
    }
  });

  it("Envoy runs envoy.yaml from a ConfigMap made from the file by the command envoy/README.md documents", () => {
    const args = envoy!.args!;
    const configPath = args[args.indexOf('--config-path') + 1]!;
    assert.ok(configPath.startsWith('/'), 'Envoy is started with --config-path');
    assert.deepEqual(envoy!.command, ['/usr/local/bin/envoy']);
    const { volume, relative } = mountOf(envoy!, configPath);
    assert.ok(volume.configMap, `${configPath} comes from a ConfigMap`);
    const item = volume.configMap.items?.find((i) => i.path === relative);
    assert.ok(item, `the ConfigMap's key is mounted as ${relative}`);
    // The ConfigMap is made from envoy/envoy.yaml itself, so it cannot drift from the file; no
    // copy of it lives under envoy/kubernetes/.
    const command = `kubectl create configmap ${volume.configMap.name} --from-file=${item.key}=envoy/envoy.yaml`;
    assert.ok(readRepoFile('envoy', 'README.md').includes(command), `envoy/README.md documents: ${command}`);
    assert.ok(readRepoFile('envoy', 'kubernetes', 'deployment.yaml').includes(command), `deployment.yaml's comment names: ${command}`);
    assert.ok(!MANIFESTS.some(({ manifest }) => manifest.kind === 'ConfigMap' && (manifest.metadata as Meta).name === volume.configMap!.name));
  });

  it("keyswitch's pool config (keyswitch-config.yaml) loads, its secrets resolve through the mounts, and it serves envoy.yaml's clusters", () => {
    const configFile = setting(keyswitchEnv, 'KEYSWITCH_CONFIG');
    const { volume, relative } = mountOf(keyswitch!, configFile);
    assert.ok(volume.configMap, `${configFile} comes from a ConfigMap`);
    const configMap = only<{ data: Record<string, string> }>('ConfigMap', volume.configMap.name);
    const text = configMap.data[relative];
    assert.ok(text, `ConfigMap ${volume.configMap.name} has the key ${relative}`);
    const read: string[] = [];
    // Each secret file as the kubelet would mount it: a key of the Secret behind the mount.
    const readSecretFile = (file: string): string => {
      const mounted = mountOf(keyswitch!, file);
      assert.ok(mounted.volume.secret, `${file} comes from a Secret`);
      const secret = only<{ stringData: Record<string, string> }>('Secret', mounted.volume.secret.secretName);
      const value = secret.stringData[mounted.relative];
      assert.ok(value !== undefined, `Secret ${mounted.volume.secret.secretName} has the key ${mounted.relative}`);
      read.push(file);
      return value;
    };
    const config = parseConfig(text, configFile, {}, readSecretFile);
    assert.equal(read.length, config.accountCount, 'every account key is a file');
    assert.ok(read.every((file) => file.startsWith('/var/run/secrets/keyswitch/')));
    assert.deepEqual([...config.poolByCluster.keys()].sort(), [...KEYSWITCH_CLUSTERS].sort(), "a pool for each cluster whose filter asks keyswitch, and no other");
  });

  it('the example Secrets hold placeholders only, mounted 0440 and never through subPath', () => {
    const secrets = MANIFESTS.filter(({ manifest }) => manifest.kind === 'Secret').map(({ manifest }) => manifest as unknown as { data?: unknown; stringData: Record<string, string> });
    for (const secret of secrets) {
      assert.equal(secret.data, undefined, 'stringData only, readable as placeholders');
      for (const [key, value] of Object.entries(secret.stringData)) assert.match(value, /^PLACEHOLDER-/, key);
    }
    for (const volume of pod.volumes.filter((v) => v.secret)) {
      assert.equal(volume.secret!.defaultMode, 0o440, volume.name);
      assert.equal(volume.secret!.items, undefined, `${volume.name}: every key of the Secret`);
    }
    for (const container of [keyswitch!, envoy!]) for (const mount of container.volumeMounts ?? []) assert.equal(mount.subPath, undefined, `${container.name} ${mount.mountPath}`);
  });
});

describe('envoy/kubernetes/: Service, NetworkPolicy, PodDisruptionBudget', () => {
  it("the Service selects the pods and targets Envoy's listener port from envoy.yaml, and nothing else", () => {
    const service = only<Service>('Service');
    assert.ok(selects(service.spec.selector, podLabels));
    assert.ok(selects(deployment.spec.selector.matchLabels, podLabels));
    assert.equal(service.spec.type ?? 'ClusterIP', 'ClusterIP', 'in-cluster only');
    assert.equal(GATEWAY_PORT, 10000);
    assert.equal(service.spec.ports.length, 1, 'the gateway port only: not the admin port');
    const [port] = service.spec.ports;
    assert.equal(port!.port, GATEWAY_PORT);
    assert.equal(resolvePort(envoy!, port!.targetPort ?? port!.port), GATEWAY_PORT);
  });

  it('the NetworkPolicy selects the pods and admits only labelled clients to the gateway port and Prometheus to the admin port', () => {
    const policy = only<NetworkPolicy>('NetworkPolicy');
    assert.ok(selects(policy.spec.podSelector.matchLabels, podLabels));
    assert.ok(policy.spec.policyTypes.includes('Ingress'));
    const admitted = new Map<number, NetworkPolicyPeer[]>();
    for (const rule of policy.spec.ingress) {
      // A rule without `from` admits every source; without `ports`, every port.
      assert.ok(rule.from && rule.from.length > 0, 'every rule names its sources');
      assert.ok(rule.ports && rule.ports.length > 0, 'every rule names its ports');
      for (const peer of rule.from) assert.equal(peer.ipBlock, undefined, 'no address ranges');
      for (const port of rule.ports) {
        assert.equal(port.protocol ?? 'TCP', 'TCP');
        const number = typeof port.port === 'number' ? port.port : resolvePort(port.port === 'admin' ? keyswitch! : envoy!, port.port);
        admitted.set(number, [...(admitted.get(number) ?? []), ...rule.from]);
      }
    }
    assert.deepEqual([...admitted.keys()].sort(), [9902, GATEWAY_PORT].sort());
    assert.deepEqual(admitted.get(GATEWAY_PORT), [{ podSelector: { matchLabels: { 'keyswitch-client': 'true' } } }], 'clients in the namespace only');
    const scrapers = admitted.get(9902)!;
    assert.ok(scrapers.length > 0 && scrapers.every((peer) => peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'prometheus'), 'Prometheus pods only');
  });

  it('the PodDisruptionBudget selects the pods and leaves one running of the replicas', () => {
    const pdb = only<{ spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable?: number; minAvailable?: number } }>('PodDisruptionBudget');
    assert.ok(selects(pdb.spec.selector.matchLabels, podLabels));
    const replicas = (deployment.spec as unknown as { replicas: number }).replicas;
    assert.ok(pdb.spec.maxUnavailable !== undefined && pdb.spec.maxUnavailable < replicas);
  });
});

// ---- Envoy's preStop hook, run with bash against a stand-in for Envoy's admin ----

interface AdminCall { method: string; url: string }

/** Answers like Envoy's admin: the drain POST, then `active` for each stats read in turn. */
async function fakeAdmin(active: number[]): Promise<{ port: number; calls: AdminCall[]; close: () => void }> {
  const calls: AdminCall[] = [];
  const server = http.createServer((req, res) => {
    calls.push({ method: req.method!, url: req.url! });
    if (req.url === '/drain_listeners?graceful') {
      res.end(req.method === 'POST' ? 'OK\n' : 'This endpoint requires POST\n');
      return;
    }
    const value = active.length > 1 ? active.shift()! : active[0]!;
    res.end(`http.${HCM_STAT_PREFIX}.downstream_rq_active: ${value}\n`);
  });
  const { port } = await listenOnLoopback(server);
  return { port, calls, close: () => server.close() };
}

async function runPreStop(env: Record<string, string>): Promise<{ status: number | null; seconds: number }> {
  const command = envoy!.lifecycle!.preStop!.exec!.command;
  const started = Date.now();
  const child = spawn(command[0]!, command.slice(1), { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const status = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  clearTimeout(timer);
  return { status, seconds: (Date.now() - started) / 1000 };
}

describe("Envoy's preStop hook (bash, against a stand-in admin)", () => {
  it("talks to envoy.yaml's admin port and reads the active requests of its listener's stat prefix", () => {
    assert.equal(envoyConfig.admin.address.socket_address.address, '127.0.0.1');
    assert.equal(setting(envoyEnv, 'ENVOY_ADMIN_PORT'), String(envoyConfig.admin.address.socket_address.port_value));
    const script = envoy!.lifecycle!.preStop!.exec!.command.join(' ');
    assert.ok(script.includes(`http.${HCM_STAT_PREFIX}.downstream_rq_active`), 'the gateway listener\'s HCM stat');
  });

  it('asks for a graceful drain, waits out the listener drain, then returns once no request is active', async () => {
    const admin = await fakeAdmin([3, 1, 0]);
    try {
      const { status, seconds: took } = await runPreStop({ ENVOY_ADMIN_PORT: String(admin.port), ENVOY_DRAIN_TIME_SECONDS: '1', ENVOY_DRAIN_MAX_SECONDS: '15' });
      assert.equal(status, 0);
      assert.deepEqual(admin.calls[0], { method: 'POST', url: '/drain_listeners?graceful' });
      const reads = admin.calls.slice(1);
      assert.equal(reads.length, 3, 'reads until the count is 0');
      assert.ok(reads.every((call) => call.method === 'GET' && call.url === `/stats?filter=http.${HCM_STAT_PREFIX}.downstream_rq_active`));
      assert.ok(took >= 1 && took < 10, `took ${took}s`);
    } finally {
      admin.close();
    }
  });

  it('gives up at ENVOY_DRAIN_MAX_SECONDS while requests are still active, and at once without an admin', async () => {
    const busy = await fakeAdmin([2]);
    try {
      const { status, seconds: took } = await runPreStop({ ENVOY_ADMIN_PORT: String(busy.port), ENVOY_DRAIN_TIME_SECONDS: '0', ENVOY_DRAIN_MAX_SECONDS: '2' });
      // bash's SECONDS counts whole seconds, so when it gives up is known to a second: assert what
      // it did (polled while requests stayed active, then returned on its own), not how long.
      assert.equal(status, 0);
      assert.ok(busy.calls.filter((call) => call.method === 'GET').length >= 2, 'kept reading while requests were active');
      assert.ok(took < 6, `gave up on its own (took ${took}s)`);
    } finally {
      busy.close();
    }
    const gone = await fakeAdmin([0]);
    gone.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const { status, seconds: took } = await runPreStop({ ENVOY_ADMIN_PORT: String(gone.port), ENVOY_DRAIN_TIME_SECONDS: '15', ENVOY_DRAIN_MAX_SECONDS: '60' });
    assert.equal(status, 0);
    assert.ok(took < 5, `took ${took}s`);
  });
});
