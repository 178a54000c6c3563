import * as grpc from '@grpc/grpc-js';
import { ATTRIBUTES_KEY, toPbStruct } from './envoy-emulator/wire';
import { officialExtProcClient } from './official-protos';

/** A ProcessingResponse as decoded with the official protos (plain object). */
export type Reply = Record<string, any>;

/**
 * One Process stream driven by hand through the OFFICIAL Envoy protos, as Envoy's gRPC client
 * would: send messages, read replies in order, see how the stream ended.
 */
export class ProcessCall {
  readonly replies: Reply[] = [];
  readonly ended: Promise<grpc.StatusObject>;
  private waiters: Array<() => void> = [];

  constructor(readonly call: grpc.ClientDuplexStream<Reply, Reply>) {
    call.on('data', (reply: Reply) => {
      this.replies.push(reply);
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.ended = new Promise((resolve) => {
      call.on('status', (status: grpc.StatusObject) => {
        resolve(status);
        for (const wake of this.waiters.splice(0)) wake();
      });
      call.on('error', () => undefined);
    });
  }

  send(message: Reply): void {
    this.call.write(message);
  }

  /** Waits for the n-th reply (1-based), failing if the stream ends first. */
  async reply(n: number): Promise<Reply> {
    let ended = false;
    void this.ended.then(() => (ended = true));
    while (this.replies.length < n) {
      if (ended) throw new Error(`stream ended after ${this.replies.length} replies, wanted ${n}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
      await Promise.resolve();
    }
    return this.replies[n - 1]!;
  }
}

export function connect(address: string): grpc.Client & Record<string, any> {
  const Client = officialExtProcClient();
  return new Client(address, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
}

export function openProcess(client: grpc.Client & Record<string, any>): ProcessCall {
  return new ProcessCall(client.Process());
}

/** Header map as Envoy sends it: lower-case keys, values in raw_value. */
export function headerMap(headers: Record<string, string>): Reply {
  return { headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) };
}

export function requestHeaders(headers: Record<string, string>, attributes: Record<string, string | number> = {}): Reply {
  return {
    request_headers: { headers: headerMap({ ':method': 'POST', ':path': '/v1/chat/completions', ...headers }), end_of_stream: false },
    attributes: { [ATTRIBUTES_KEY]: toPbStruct(attributes) },
  };
}

export function responseHeaders(status: number, headers: Record<string, string> = {}): Reply {
  return { response_headers: { headers: headerMap({ ':status': String(status), ...headers }), end_of_stream: false } };
}

/** The set_headers of a reply as a plain name → value map (raw_value decoded). */
export function setHeaders(reply: Reply, phase: 'request_headers' | 'response_headers'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const option of reply[phase]?.response?.header_mutation?.set_headers ?? []) {
    out[option.header.key] = Buffer.from(option.header.raw_value ?? []).toString('utf8');
  }
  return out;
}
