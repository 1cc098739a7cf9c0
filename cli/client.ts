import { createHash, createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

/**
 * How `captain` ends, for scripts. Documented in `captain --help` and docs/cli.md.
 */
export const EXIT = {
  ok: 0,
  /** The control plane refused the command (a rule), or what it started failed. */
  failed: 1,
  /** The command line was wrong. */
  usage: 2,
  /** The pipeline, stage, target, release or commit does not exist. */
  notFound: 3,
  /** The control plane could not be reached or refused the credentials. */
  unreachable: 4,
  /** The operator declined at the confirmation prompt. */
  declined: 5,
} as const;

/** An error that ends the CLI with a message and an exit code. */
export class CliError extends Error {
  readonly exitCode: number;
  /** Whether sending the same request again may succeed (commands carry request ids). */
  readonly retryable: boolean;

  constructor(exitCode: number, message: string, options: { retryable?: boolean } = {}) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.retryable = options.retryable ?? false;
  }
}

/** Where the operator API is. */
export type Endpoint =
  | { readonly kind: 'local'; readonly dataDir: string; readonly user?: string | undefined }
  | { readonly kind: 'url'; readonly url: string; readonly user?: string | undefined }
  | {
      readonly kind: 'aws';
      readonly region: string;
      readonly profile?: string | undefined;
      readonly stack: string;
      /** @default - the stack's OperatorApiUrl output */
      readonly url?: string | undefined;
    };

/**
 * The operator API over HTTP: the local runtime's on loopback, or the control plane's
 * function URL in AWS, each request signed with SigV4 (service `lambda`) by the caller's
 * credentials (the default chain, or `--profile`).
 *
 * @example
 * const client = await CaptainClient.connect({ kind: 'local', dataDir: '.captain' });
 * await client.get('/api/pipelines/demo/status');
 */
export class CaptainClient {
  readonly url: string;
  readonly #headers: Record<string, string>;
  readonly #signer: SignatureV4 | null;
  /** What to try when the API does not answer. */
  readonly #hint: string;

  private constructor(
    url: string,
    headers: Record<string, string>,
    signer: SignatureV4 | null,
    hint = '',
  ) {
    this.url = url.replace(/\/$/, '');
    this.#headers = headers;
    this.#signer = signer;
    this.#hint = hint;
  }

  static async connect(endpoint: Endpoint): Promise<CaptainClient> {
    const headers: Record<string, string> = { 'x-captain-client': 'cli' };
    if (endpoint.kind !== 'aws' && endpoint.user !== undefined) {
      headers['x-captain-user'] = endpoint.user;
    }
    if (endpoint.kind === 'url') return new CaptainClient(endpoint.url, headers, null);
    if (endpoint.kind === 'local') {
      return new CaptainClient(
        await localUrl(endpoint.dataDir),
        headers,
        null,
        ` Is the local runtime still running? ${endpoint.dataDir}/api.json names the last one; start it again with \`npm start -- --serve\`.`,
      );
    }
    const credentials = fromNodeProviderChain(
      endpoint.profile === undefined ? {} : { profile: endpoint.profile },
    );
    const url = endpoint.url ?? (await stackUrl(endpoint, credentials));
    const signer = new SignatureV4({
      service: 'lambda',
      region: endpoint.region,
      credentials,
      sha256: NodeSha256,
    });
    return new CaptainClient(url, headers, signer);
  }

  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return this.#call<T>('GET', path, query, undefined);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('POST', path, {}, body);
  }

  async #call<T>(
    method: string,
    path: string,
    query: Record<string, string | number | undefined>,
    body: unknown,
  ): Promise<T> {
    const target = new URL(`${this.url}${path}`);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) target.searchParams.set(key, String(value));
    }
    const response = await this.send(
      method,
      `${target.pathname}${target.search}`,
      body === undefined ? undefined : JSON.stringify(body),
    );
    const raw = await response.text();
    let answer: unknown;
    try {
      answer = raw === '' ? null : JSON.parse(raw);
    } catch {
      answer = { message: raw.slice(0, 300) };
    }
    if (response.ok) return answer as T;
    const message = (answer as { message?: string } | null)?.message ?? response.statusText;
    if (response.status === 404) throw new CliError(EXIT.notFound, message);
    if (response.status === 403 || response.status === 401) {
      throw new CliError(
        EXIT.unreachable,
        `The control plane refused the credentials (${response.status}): ${message} The caller needs the control plane's OperatorsPolicy (lambda:InvokeFunctionUrl and lambda:InvokeFunction through the URL).`,
      );
    }
    if (response.status >= 500) {
      throw new CliError(
        EXIT.unreachable,
        `The control plane failed (${response.status}): ${message} A command may have been carried out; check with \`captain status\` or \`captain audit\`.`,
        { retryable: true },
      );
    }
    if (response.status === 409 || response.status === 429) {
      throw new CliError(EXIT.failed, message, { retryable: true });
    }
    throw new CliError(EXIT.failed, message);
  }

  /**
   * One request as it is, signed when the API is in AWS: what `captain web` forwards.
   * `pathAndQuery` starts with `/`; `text` is the body, if any (JSON).
   */
  async send(method: string, pathAndQuery: string, text?: string): Promise<Response> {
    const target = new URL(`${this.url}${pathAndQuery}`);
    let headers: Record<string, string> = {
      ...this.#headers,
      host: target.host,
      ...(text === undefined ? {} : { 'content-type': 'application/json' }),
    };
    if (this.#signer !== null) {
      const signed = await this.#signer.sign(
        new HttpRequest({
          method,
          protocol: target.protocol,
          hostname: target.hostname,
          path: target.pathname,
          query: Object.fromEntries(target.searchParams),
          headers,
          ...(text === undefined ? {} : { body: text }),
        }),
      );
      headers = signed.headers as Record<string, string>;
    }
    try {
      const { host: _host, ...sent } = headers;
      return await fetch(target, {
        method,
        headers: sent,
        ...(text === undefined ? {} : { body: text }),
      });
    } catch (error) {
      throw new CliError(
        EXIT.unreachable,
        `Cannot reach the control plane at ${this.url} (${(error as Error).cause ?? error}).${this.#hint}`,
        { retryable: true },
      );
    }
  }
}

/** The local runtime's address, from the file it writes while it serves. */
async function localUrl(dataDir: string): Promise<string> {
  const file = join(dataDir, 'api.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new CliError(
      EXIT.unreachable,
      `No local runtime is serving ${dataDir} (${file} is missing). Start one with \`npm start -- --keep-running\` or \`npm start -- --serve\`, or pass --data-dir, --url or --region.`,
    );
  }
  const { url } = JSON.parse(text) as { url?: string };
  if (typeof url !== 'string') throw new CliError(EXIT.unreachable, `${file} holds no url.`);
  return url;
}

/** The operator API's URL from the control plane stack's outputs. */
async function stackUrl(
  endpoint: Extract<Endpoint, { kind: 'aws' }>,
  credentials: ReturnType<typeof fromNodeProviderChain>,
): Promise<string> {
  const client = new CloudFormationClient({ region: endpoint.region, credentials });
  try {
    const { Stacks } = await client.send(new DescribeStacksCommand({ StackName: endpoint.stack }));
    const url = Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'OperatorApiUrl')?.OutputValue;
    if (url === undefined) {
      throw new CliError(
        EXIT.unreachable,
        `Stack ${endpoint.stack} in ${endpoint.region} has no OperatorApiUrl output; deploy the current app (npx cdk deploy ${endpoint.stack}).`,
      );
    }
    return url;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(
      EXIT.unreachable,
      `Cannot read stack ${endpoint.stack} in ${endpoint.region}: ${(error as Error).message}`,
    );
  } finally {
    client.destroy();
  }
}

/**
 * SHA-256 and HMAC-SHA-256 for the signer, on node:crypto. The SDK's own implementation
 * is internal to its packages; this is the `Checksum` shape SignatureV4 asks for.
 */
class NodeSha256 {
  readonly #secret: string | Buffer | undefined;
  #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#secret =
      secret === undefined || typeof secret === 'string'
        ? secret
        : secret instanceof ArrayBuffer
          ? Buffer.from(secret)
          : Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength);
    this.#hash = NodeSha256.#fresh(this.#secret);
  }

  static #fresh(secret: string | Buffer | undefined) {
    return secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
  }

  reset(): void {
    this.#hash = NodeSha256.#fresh(this.#secret);
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(
      typeof data === 'string'
        ? data
        : data instanceof ArrayBuffer
          ? Buffer.from(data)
          : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    );
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}
