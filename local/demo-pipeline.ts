import {
  minutes,
  type Placement,
  region,
  regions,
  seedDefaults,
  Target,
  type TeamDefaults,
  TeamPipeline,
} from '../core/index.js';

/** A bake of `clockMinutes` that also needs `dataPoints` requests. */
const bake = (clockMinutes: number, dataPoints: number) => ({
  durationSeconds: minutes(clockMinutes),
  minDataPoints: dataPoints,
});

/**
 * The demo's pipeline: beta, gamma (one-box first), then three production waves over five
 * Regions (1, 1, then 3), one-box before fleet in each; every target a simulated fleet on
 * this machine (one box for a one-box, three for a fleet). Bakes are short clock times, as
 * the demo runs them at an accelerated clock; they still count the canary's requests.
 */
export class DemoPipeline extends TeamPipeline {
  readonly name: string = 'demo';
  readonly source = { repository: 'demo-service', branch: 'main' };

  protected defaults(): TeamDefaults {
    const production = regions(
      'eu-north-1',
      'us-east-1',
      'ap-southeast-2',
      'eu-west-1',
      'us-west-2',
    );
    const seed = seedDefaults(production, region('us-west-2'));
    return {
      ...seed,
      wavePlan: [1, 1, 'rest'],
      zonesPerRegion: 1,
      bakes: {
        oneBox: bake(10, 20),
        zone: bake(10, 20),
        afterWave: (wave) => (wave === 1 ? bake(30, 40) : bake(15, 40)),
      },
      preProduction: {
        ...seed.preProduction,
        alpha: false,
        // beta runs the tests; gamma, a copy of production, bakes.
        betaBake: bake(0, 0),
        gammaOneBoxBake: bake(10, 20),
        gammaBake: bake(10, 20),
      },
      // The demo runs at any hour; the team's real pipelines keep business hours.
      productionWindow: null,
    };
  }

  /**
   * Each environment has its own aggregate alarm (beta's, gamma's, and one per production
   * Region), so a fault in beta does not block gamma; a one-box rolls back on its own
   * composite: the aggregate or its own fault rate.
   */
  protected target(placement: Placement): Target {
    const where = placement.region.code;
    const environment =
      placement.phase === 'production' ? where : placement.stage.replace(/-onebox$/, '');
    return Target.localFleet({
      placement,
      boxes: placement.oneBox ? 1 : 3,
      rollbackAlarm: placement.oneBox
        ? `demo-onebox-${placement.stage.replace(/-onebox$/, '')}-${where}`
        : `demo-aggregate-${environment}`,
      aggregateAlarm: `demo-aggregate-${environment}`,
    });
  }
}
