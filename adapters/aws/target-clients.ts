import { CloudWatchClient, type CloudWatchClientConfig } from '@aws-sdk/client-cloudwatch';
import { CodeDeployClient, type CodeDeployClientConfig } from '@aws-sdk/client-codedeploy';
import { ECSClient, type ECSClientConfig } from '@aws-sdk/client-ecs';
import { type TargetDefinition, TerminalError } from '../../core/index.js';

/**
 * A function that resolves AWS credentials, refreshing them when they expire: what
 * `fromTemporaryCredentials(…)` of `@aws-sdk/credential-providers` returns. Spelt through
 * the client's own config type so this module needs no extra package.
 */
export type CredentialsProvider = Extract<
  NonNullable<ECSClientConfig['credentials']>,
  (...args: never[]) => unknown
>;

/** SDK clients that act on one target, in the target's account and region. */
export interface TargetClients {
  ecs(target: TargetDefinition): ECSClient;
  codeDeploy(target: TargetDefinition): CodeDeployClient;
}

/** CloudWatch where a target's alarms and metrics live: its own account and region. */
export interface CloudWatchClients {
  cloudWatch(target: TargetDefinition): CloudWatchClient;
}

export interface CachedTargetClientsProps {
  /**
   * The credentials for a target's account: the control plane assumes the deploy role
   * there. The wiring passes
   * `(account) => fromTemporaryCredentials({ params: { RoleArn: \`arn:aws:iam::${account}:role/<deploy-role>\`, RoleSessionName: 'release-captain' } })`,
   * or the default chain for the control plane's own account.
   */
  readonly credentialsFor: (account: string) => CredentialsProvider;
  /**
   * Settings shared by every client (retries, a request handler with timeouts…).
   * @default - the SDK's defaults
   */
  readonly clientConfig?: Omit<ECSClientConfig & CodeDeployClientConfig, 'region' | 'credentials'>;
}

/**
 * The {@link TargetClients} for many accounts and regions. Each client is built once per
 * (account, region) and each account's credentials provider once, so every client of an
 * account shares one assumed-role session instead of calling STS per target and per call.
 *
 * @example
 * const clients = new CachedTargetClients({
 *   credentialsFor: (account) =>
 *     fromTemporaryCredentials({
 *       params: { RoleArn: `arn:aws:iam::${account}:role/release-captain-deploy`, RoleSessionName: 'captain' },
 *     }),
 * });
 * const ecs = clients.ecs(target); // ECSClient in target.account / target.region, reused next time
 */
export class CachedTargetClients implements TargetClients, CloudWatchClients {
  readonly #credentialsFor: (account: string) => CredentialsProvider;
  readonly #clientConfig: CachedTargetClientsProps['clientConfig'];
  readonly #credentials = new Map<string, CredentialsProvider>();
  readonly #ecs = new Map<string, ECSClient>();
  readonly #codeDeploy = new Map<string, CodeDeployClient>();
  readonly #cloudWatch = new Map<string, CloudWatchClient>();

  constructor(props: CachedTargetClientsProps) {
    this.#credentialsFor = props.credentialsFor;
    this.#clientConfig = props.clientConfig;
  }

  ecs(target: TargetDefinition): ECSClient {
    return this.#client(this.#ecs, target, (config) => new ECSClient(config));
  }

  codeDeploy(target: TargetDefinition): CodeDeployClient {
    return this.#client(this.#codeDeploy, target, (config) => new CodeDeployClient(config));
  }

  cloudWatch(target: TargetDefinition): CloudWatchClient {
    return this.#client(this.#cloudWatch, target, (config) => new CloudWatchClient(config));
  }

  /** Closes every client's connections, e.g. at the end of a test or a local run. */
  destroy(): void {
    const clients = [
      ...this.#ecs.values(),
      ...this.#codeDeploy.values(),
      ...this.#cloudWatch.values(),
    ];
    for (const client of clients) client.destroy();
    this.#ecs.clear();
    this.#codeDeploy.clear();
    this.#cloudWatch.clear();
  }

  #client<C>(
    cache: Map<string, C>,
    target: TargetDefinition,
    create: (config: ECSClientConfig & CodeDeployClientConfig & CloudWatchClientConfig) => C,
  ): C {
    if (target.account === 'local') {
      throw new TerminalError(
        `Target "${target.id}" has account "local": it is a simulated fleet with no AWS account. Give it a 12-digit account id, or run it with the local runtime.`,
      );
    }
    const key = `${target.account}/${target.region}`;
    let client = cache.get(key);
    if (client === undefined) {
      client = create({
        ...this.#clientConfig,
        region: target.region,
        credentials: this.#credentialsOf(target.account),
      });
      cache.set(key, client);
    }
    return client;
  }

  #credentialsOf(account: string): CredentialsProvider {
    let provider = this.#credentials.get(account);
    if (provider === undefined) {
      provider = this.#credentialsFor(account);
      this.#credentials.set(account, provider);
    }
    return provider;
  }
}
