/**
 * `captain status` at the size of a pipeline in lanes: idle lanes as one line each,
 * `--all` and `--wave`.
 */
import { describe, expect, it } from 'vitest';
import { parse } from '../../../cli/args.js';
import { CliError, EXIT } from '../../../cli/client.js';
import { waveOf } from '../../../cli/main.js';
import { renderStatus } from '../../../cli/render.js';
import {
  groups,
  type PipelineStatus,
  parsePipelineDefinition,
  regions,
  SEED_BAKES,
  stageStateOf,
  stageView,
  waves,
} from '../../../core/index.js';
import { drive, Sandbox, smallDefinition, stage, target } from '../../support/fixtures.js';

const definition = parsePipelineDefinition({
  ...smallDefinition(),
  stages: [
    stage('gamma', null),
    ...waves(regions('eu-west-1', 'us-east-1', 'us-west-2'), [1, 'rest'], {
      target: (p) =>
        target(p.stage, { region: p.region.code, zone: p.zone, timeZone: p.region.timeZone }),
      bakes: SEED_BAKES,
      after: 'gamma',
      zonesPerRegion: 2,
      laneBy: 'region',
    }),
  ],
});

const statusOf = (sb: Sandbox): PipelineStatus => ({
  pipeline: 'api',
  now: sb.now,
  latestRelease: sb.state.meta.latestRelease,
  stages: definition.stages.map((s) =>
    stageView(sb.topology, s, stageStateOf(sb.state, s.name), sb.state),
  ),
  groups: groups(sb.topology),
  expedite: null,
  expediteRequest: null,
  knownBad: [],
  overrides: [],
});

const firstColumn = (text: string) =>
  text
    .split('\n')
    .slice(3)
    .map((line) => line.trim().split(/\s{2,}/)[0] ?? '')
    .filter((cell) => cell !== '');

describe('captain status', () => {
  it('shows each idle lane as one line, and a lane at work stage by stage', () => {
    const sb = new Sandbox(definition);
    expect(firstColumn(renderStatus(statusOf(sb), { collapse: true }))).toEqual([
      'gamma',
      'wave 1',
      'eu-west-1 lane (4 stages)',
      'wave 2',
      'us-east-1 lane (4 stages)',
      'us-west-2 lane (4 stages)',
    ]);

    drive.create(sb, 1);
    drive.pass(sb, 'gamma'); // r1 enters wave 1's lane

    expect(firstColumn(renderStatus(statusOf(sb), { collapse: true }))).toEqual([
      'gamma',
      'wave 1',
      'prod-w1-eu-west-1-z1-onebox',
      'prod-w1-eu-west-1-z1',
      'prod-w1-eu-west-1-z2-onebox',
      'prod-w1-eu-west-1-z2',
      'wave 2',
      'us-east-1 lane (4 stages)',
      'us-west-2 lane (4 stages)',
    ]);
  });

  it('collapses by default only past 40 stages; shows every stage with --all, one wave with --wave', () => {
    const status = statusOf(new Sandbox(definition));

    expect(firstColumn(renderStatus(status))).toHaveLength(3 + 12); // 13 stages: all shown
    expect(firstColumn(renderStatus(status, { all: true, collapse: true }))).toHaveLength(3 + 12);
    expect(firstColumn(renderStatus(status, { wave: 2, collapse: true }))).toEqual([
      'wave 2',
      'us-east-1 lane (4 stages)',
      'us-west-2 lane (4 stages)',
    ]);
  });

  it('refuses a --wave that is not a number (2) or not a wave of the pipeline (3)', () => {
    const status = statusOf(new Sandbox(definition));
    const codeOf = (wave: string) => {
      try {
        waveOf(parse(['status', '--wave', wave]).values, status);
        return EXIT.ok;
      } catch (error) {
        return error instanceof CliError ? error.exitCode : -1;
      }
    };

    expect(waveOf(parse(['status', '--wave', '2']).values, status)).toBe(2);
    expect(codeOf('two')).toBe(EXIT.usage);
    expect(codeOf('0')).toBe(EXIT.usage);
    expect(codeOf('3')).toBe(EXIT.notFound);
  });
});
