/**
 * The seeds' sample pipeline: an ECS service deployed to alpha, beta, gamma (with its
 * one-box) and five production waves over 26 Regions (1, 1, 3, 12, the rest), one
 * Availability Zone per step, one-box before each zonal fleet: 33 stages and 159 target
 * deployments beyond alpha.
 */
import {
  type Placement,
  region,
  regions,
  seedDefaults,
  type TargetInput,
  type TeamDefaults,
  TeamPipeline,
} from '../core/index.js';

export const ecsTarget = (p: Placement): TargetInput => ({
  id: [p.stage, p.region.code, p.zone].filter(Boolean).join('-'),
  account: '123456789012',
  region: p.region.code,
  zone: p.zone,
  timeZone: p.region.timeZone,
  alarms: {
    rollback: p.oneBox ? `api-onebox-${p.region.code}` : `team-aggregate-${p.region.code}`,
    aggregate: `team-aggregate-${p.region.code}`,
  },
  deployment: { kind: 'ecs-service', cluster: 'api', service: p.oneBox ? 'api-onebox' : 'api' },
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
  protected target(placement: Placement): TargetInput {
    return ecsTarget(placement);
  }
}
