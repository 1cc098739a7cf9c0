/**
 * The seeds' sample: one ECS service and two of its pipelines, to show that a service owns
 * several, each with the same safety steps. The API pipeline deploys the service's `api`
 * container, the configuration pipeline its `config` sidecar (configuration and feature
 * flags). Both go to alpha, beta, gamma (with its one-box) and five production waves over
 * 26 Regions (1, 1, 3, 12, the rest), one Availability Zone per step, one-box before each
 * zonal fleet: 33 stages and 159 target deployments beyond alpha.
 */
import {
  type EcsServiceTargetProps,
  type PipelineDefinition,
  type Placement,
  region,
  regions,
  seedDefaults,
  Target,
  type TargetInput,
  type TeamDefaults,
  TeamPipeline,
} from '../core/index.js';

/** The sample service in a placement: its one-box service before its fleet, and the team's alarms there. */
const apiService = (p: Placement): EcsServiceTargetProps => ({
  placement: p,
  account: '123456789012',
  cluster: 'api',
  service: p.oneBox ? 'api-onebox' : 'api',
  rollbackAlarm: p.oneBox ? `api-onebox-${p.region.code}` : `team-aggregate-${p.region.code}`,
  aggregateAlarm: `team-aggregate-${p.region.code}`,
  // The roles its task definition names: the only ones the deploy role may pass.
  taskRole: 'api-task',
  executionRole: 'api-task-execution',
});

/** The API's target: the service's `api` container takes the release's image. */
export const ecsTarget = (p: Placement): Target =>
  Target.ecsService({ ...apiService(p), container: 'api' });

/** The configuration's target: the same service's `config` sidecar takes the configuration release's image. */
export const configTarget = (p: Placement): Target =>
  Target.ecsService({
    ...apiService(p),
    id: `config-${Target.idFor(p)}`,
    container: 'config',
  });

export abstract class SampleTeam extends TeamPipeline {
  protected defaults(): TeamDefaults {
    const production = regions(
      'eu-north-1',
      'us-east-1',
      'ap-southeast-2',
      'eu-west-1',
      'us-west-2',
      'us-east-2',
      'eu-central-1',
      'ap-northeast-1',
      'ap-southeast-1',
      'ap-south-1',
      'sa-east-1',
      'ca-central-1',
      'eu-west-2',
      'eu-west-3',
      'ap-northeast-2',
      'ap-east-1',
      'me-south-1',
      'af-south-1',
      'eu-south-1',
      'ap-northeast-3',
      'ap-southeast-3',
      'me-central-1',
      'eu-central-2',
      'eu-south-2',
      'ap-south-2',
      'il-central-1',
    );
    return { ...seedDefaults(production, region('us-west-2')), zonesPerRegion: 3 };
  }
}

export class SampleApi extends SampleTeam {
  readonly name: string = 'api';
  readonly source = { repository: 'api', branch: 'main' };
  protected target(placement: Placement): Target | TargetInput {
    return ecsTarget(placement);
  }
}

/** The same service's configuration and feature flags: the team's waves, bakes and windows. */
export class SampleApiConfig extends SampleTeam {
  readonly name: string = 'api-config';
  override readonly kind: PipelineDefinition['kind'] = 'configuration';
  readonly source = { repository: 'api-config', branch: 'main' };
  protected target(placement: Placement): Target | TargetInput {
    return configTarget(placement);
  }
}
