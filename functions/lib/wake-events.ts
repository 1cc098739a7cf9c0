/**
 * The events that wake waiting workflow steps, by detail type, with the source that sends
 * each: one list for the wake handler's schema, the control plane's rule, the target
 * accounts' forwarding rule, and the local runtime's rule.
 */
export const WAKE_EVENTS = {
  'CodeDeploy Deployment State-change Notification': 'aws.codedeploy',
  'ECS Deployment State Change': 'aws.ecs',
  'CloudWatch Alarm State Change': 'aws.cloudwatch',
  // The local runtime's simulated fleets (local/fleet-deployer.ts).
  'Local Fleet Deployment State Change': 'release-captain.local',
} as const;

export type WakeDetailType = keyof typeof WAKE_EVENTS;

/** The EventBridge pattern matching the wake events of the given detail types. */
export function wakePattern(detailTypes: readonly WakeDetailType[]): {
  source: string[];
  detailType: string[];
} {
  return {
    source: [...new Set(detailTypes.map((type) => WAKE_EVENTS[type]))],
    detailType: [...detailTypes],
  };
}

/** What AWS sends: the cloud's rules match these. */
export const AWS_WAKE_EVENTS: readonly WakeDetailType[] = [
  'CodeDeploy Deployment State-change Notification',
  'ECS Deployment State Change',
  'CloudWatch Alarm State Change',
];

/** What the local runtime sends: its alarms and its fleets. */
export const LOCAL_WAKE_EVENTS: readonly WakeDetailType[] = [
  'CloudWatch Alarm State Change',
  'Local Fleet Deployment State Change',
];
