import { describe, expect, it } from 'vitest';
import { scaledRetryIntervals } from '../../../local/executions.js';
import { FUNCTION_ARNS } from '../../../local/runtime.js';
import { loadDefinition } from '../../../local/state-machine.js';

describe('scaledRetryIntervals', () => {
  it('gives every retrier of the stage workflow its first interval in clock time', async () => {
    const definition = await loadDefinition('statemachines/stage.asl.json', FUNCTION_ARNS);

    const intervals = scaledRetryIntervals(definition, 400);

    // Every Task of the workflow retries, inside the Map too, 2 s apart at first.
    expect(Object.keys(intervals).sort()).toEqual([
      'Advance stage',
      'Advance target',
      'Await a stage event',
      'Await a target event',
      'Fail the run',
      'Fail the run for the target',
    ]);
    for (const perRetrier of Object.values(intervals)) {
      expect(perRetrier.every((ms) => ms === 5)).toBe(true);
    }
  });
});
