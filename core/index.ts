/**
 * The pure domain of Release Captain: the model, pipeline definitions, the promotion
 * rules, blockers, bakes, the rollout planner and the ports. It imports no AWS SDK, no
 * CDK and no middy (a lint rule enforces it), so both engines, the cloud and the local
 * runtime, run the same decisions.
 */
export * from './bake/alarm-watch.js';
export * from './bake/evaluate-bake.js';
export * from './blockers/evaluate.js';
export * from './blockers/time-window.js';
// For the constructs that validate a part of a definition (infra/pipeline.ts).
export { toDefinitionIssues } from './definition/issues.js';
export * from './definition/regions.js';
export * from './definition/schema.js';
export * from './definition/source.js';
export * from './definition/target.js';
export * from './definition/team-pipeline.js';
export * from './definition/topology.js';
export * from './definition/validate.js';
export * from './definition/waves.js';
export * from './errors.js';
export * from './model/controls.js';
export * from './model/duration.js';
export * from './model/events.js';
export * from './model/execution-name.js';
export * from './model/release.js';
export * from './model/stage-state.js';
export * from './planner/rollout-planner.js';
export * from './ports/memory/logs.js';
export * from './ports/memory/promotion-store.js';
export * from './ports/memory/release-store.js';
export * from './ports/memory/services.js';
export * from './ports/memory/source-history.js';
export * from './ports/services.js';
export * from './ports/stores.js';
export * from './promotion/admit.js';
export * from './promotion/approval.js';
export * from './promotion/controls.js';
export * from './promotion/deployment.js';
export * from './promotion/flow.js';
export * from './promotion/rollback.js';
export * from './promotion/rollback-preview.js';
export * from './promotion/rule.js';
export * from './promotion/run-ref.js';
export * from './promotion/transition.js';
export * from './service/driver-step.js';
export * from './service/pipeline-commands.js';
export * from './service/pipeline-views.js';
export * from './service/promotion-service.js';
export * from './service/reconciler.js';
export * from './service/release-recorder.js';
export * from './service/stage-driver.js';
export * from './service/stage-step.js';
export * from './service/stage-view.js';
export * from './service/verifying-deployer.js';
