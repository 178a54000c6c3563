/**
 * The Envoy attributes (docs: intro/arch_overview/advanced/attributes.rst) the emulator can
 * evaluate for request_attributes / response_attributes; others are left out.
 */
import type { ClusterModel, RouteModel } from './bootstrap';
import type { HeaderMap } from './header-map';
import type { PbValue } from './wire';

export interface AttributeContext {
  headers: HeaderMap;
  attempt: number;
  route: RouteModel;
  cluster: ClusterModel;
  responseStatus: number;
}

export function attributes(names: string[], ctx: AttributeContext): Record<string, PbValue> {
  const out: Record<string, PbValue> = {};
  const path = ctx.headers.get(':path') ?? '';
  const known: Record<string, () => PbValue> = {
    'request.id': () => ({ stringValue: ctx.headers.get('x-request-id') ?? '' }),
    'request.path': () => ({ stringValue: path }),
    'request.url_path': () => ({ stringValue: path.split('?')[0] ?? '' }),
    'request.method': () => ({ stringValue: ctx.headers.get(':method') ?? '' }),
    'request.host': () => ({ stringValue: ctx.headers.get(':authority') ?? '' }),
    'request.scheme': () => ({ stringValue: ctx.headers.get(':scheme') ?? '' }),
    // An integer attribute; the Struct carries it as a number.
    'upstream.request_attempt_count': () => ({ numberValue: ctx.attempt }),
    'xds.route_name': () => ({ stringValue: ctx.route.name }),
    'xds.cluster_name': () => ({ stringValue: ctx.cluster.name }),
    'response.code': () => ({ numberValue: ctx.responseStatus }),
  };
  for (const name of names) {
    const evaluate = known[name];
    if (evaluate !== undefined) out[name] = evaluate();
  }
  return out;
}
