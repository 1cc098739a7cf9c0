import { DefinitionError, type DefinitionIssue } from '../errors.js';
import { EXECUTION_NAME_MAX, longestExecutionName } from '../model/execution-name.js';
import { formatReceived, toDefinitionIssues } from './issues.js';
import { type PipelineDefinition, pipelineSchema } from './schema.js';

/**
 * Parses and validates a pipeline definition: the schema first, then the rules that
 * relate fields to each other. Throws one {@link DefinitionError} listing every issue.
 *
 * @example
 * parsePipelineDefinition(JSON.parse(text));
 * // DefinitionError: The pipeline definition is not valid:
 * //   stages[4].bake.minDataPoints: expected a whole number ≥ 0, got -3
 */
export function parsePipelineDefinition(input: unknown): PipelineDefinition {
  const parsed = pipelineSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) throw new DefinitionError(toDefinitionIssues(parsed.error.issues));
  const issues = crossFieldIssues(parsed.data);
  if (issues.length > 0) throw new DefinitionError(issues);
  return parsed.data;
}

function crossFieldIssues(definition: PipelineDefinition): DefinitionIssue[] {
  const issues: DefinitionIssue[] = [];
  const issue = (path: string, expected: string, received: unknown) =>
    issues.push({ path, message: `expected ${expected}, got ${formatReceived(received)}` });

  const seenStages: string[] = [];
  const phaseOf = new Map<string, { phase: string; wave: number | null }>();
  const targetIds = new Map<string, string>();

  definition.stages.forEach((stage, index) => {
    const at = `stages[${index}]`;
    if (seenStages.includes(stage.name)) {
      issue(`${at}.name`, 'a name no other stage uses', stage.name);
    }
    const longest = longestExecutionName(definition.name, stage.name);
    if (longest.length > EXECUTION_NAME_MAX) {
      const room = EXECUTION_NAME_MAX - (longest.length - stage.name.length);
      issue(
        `${at}.name`,
        `a name of at most ${room} characters with pipeline "${definition.name}": execution names (${longest}) may have ${EXECUTION_NAME_MAX}`,
        stage.name,
      );
    }

    if (index === 0 && stage.after.length > 0) {
      issue(
        `${at}.after`,
        'null: the first stage is fed by new releases',
        stage.after.length === 1 ? stage.after[0] : stage.after,
      );
    }
    const choices = seenStages.length > 0 ? ` (one of: ${seenStages.join(', ')})` : '';
    stage.after.forEach((upstream, position) => {
      const where = stage.after.length === 1 ? `${at}.after` : `${at}.after[${position}]`;
      if (index > 0 && !seenStages.includes(upstream)) {
        issue(where, `the name of an earlier stage${choices}`, upstream);
      }
      if (stage.after.indexOf(upstream) !== position) {
        issue(where, 'a stage named once', upstream);
      }
    });

    if (stage.phase === 'production' && stage.wave === null) {
      issue(`${at}.wave`, 'a wave number for a production stage', stage.wave);
    }
    if (stage.phase === 'pre-production' && stage.wave !== null) {
      issue(`${at}.wave`, 'null for a pre-production stage', stage.wave);
    }
    for (const upstreamName of stage.after) {
      const upstream = phaseOf.get(upstreamName);
      if (upstream?.phase === 'production' && stage.phase === 'pre-production') {
        issue(
          `${at}.phase`,
          `production after the production stage "${upstreamName}"`,
          stage.phase,
        );
      }
      if (upstream?.wave != null && stage.wave !== null && stage.wave < upstream.wave) {
        issue(`${at}.wave`, `a wave ≥ ${upstream.wave}, the wave of "${upstreamName}"`, stage.wave);
      }
    }

    const stepNames = new Set<string>();
    stage.approvalSteps.forEach((step, stepIndex) => {
      if (stepNames.has(step.name)) {
        issue(`${at}.approvalSteps[${stepIndex}].name`, 'a name unique in the stage', step.name);
      }
      stepNames.add(step.name);
    });

    stage.targets.forEach((target, targetIndex) => {
      const owner = targetIds.get(target.id);
      if (owner !== undefined) {
        issue(
          `${at}.targets[${targetIndex}].id`,
          `an id not already used by "${owner}"`,
          target.id,
        );
      }
      targetIds.set(target.id, stage.name);
    });

    seenStages.push(stage.name);
    phaseOf.set(stage.name, { phase: stage.phase, wave: stage.wave });
  });
  return issues;
}
