/**
 * Variants of the project's envoy/envoy.yaml for tests: parse it, let the test edit the document
 * (e.g. switch response_header_mode to SKIP), and hand back YAML for startEnvoyEmulator's
 * bootstrapYaml. The real file stays the single source; tests only state their difference.
 */
import * as fs from 'node:fs';
import { parse, stringify } from 'yaml';
import { repoPath } from '../repo-files';

// The document is Envoy's proto-as-YAML; tests walk it loosely.
export type BootstrapDoc = any;

/** Absolute path of the project's bootstrap. */
export function projectBootstrapPath(): string {
  return repoPath('envoy', 'envoy.yaml');
}

/** The project's bootstrap after `edit`, as YAML text. */
export function bootstrapVariant(edit: (doc: BootstrapDoc) => void): string {
  const doc: BootstrapDoc = parse(fs.readFileSync(projectBootstrapPath(), 'utf8'));
  edit(doc);
  return stringify(doc);
}

/** The ext_proc typed_config of a cluster's upstream filter chain. */
export function extProcOf(doc: BootstrapDoc, cluster: string): BootstrapDoc {
  const c = doc.static_resources.clusters.find((x: BootstrapDoc) => x.name === cluster);
  const filters = c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].http_filters;
  return filters.find((f: BootstrapDoc) => String(f.typed_config['@type']).endsWith('ExternalProcessor')).typed_config;
}

/** A route (by name) of the first virtual host. */
export function routeOf(doc: BootstrapDoc, name: string): BootstrapDoc {
  const hcm = doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  return hcm.route_config.virtual_hosts[0].routes.find((r: BootstrapDoc) => r.name === name);
}
