import { z } from 'zod';
import { subjects } from '../core/index.js';
import { awsDeps } from './lib/aws-deps.js';
import type { DepsSource } from './lib/deps.js';
import { logger, stepHandler } from './lib/step-handler.js';
import { wakeAll } from './lib/wake-all.js';

/**
 * The EventBridge events that may end a wait, and the subject each wakes. Delivery is at
 * least once and may be late: waking a step that moved on is harmless (its token is gone
 * and the step decides from stored state anyway).
 */
export const wakeEvent = z.discriminatedUnion('detail-type', [
  z.object({
    'detail-type': z.literal('CodeDeploy Deployment State-change Notification'),
    time: z.iso.datetime(),
    detail: z.object({ deploymentId: z.string().min(1), state: z.string() }),
  }),
  z.object({
    'detail-type': z.literal('ECS Deployment State Change'),
    time: z.iso.datetime(),
    detail: z.object({ deploymentId: z.string().min(1), eventName: z.string() }),
  }),
  z.object({
    // The local runtime's simulated fleets (local/fleet-deployer.ts).
    'detail-type': z.literal('Local Fleet Deployment State Change'),
    time: z.iso.datetime(),
    detail: z.object({ deploymentId: z.string().min(1), status: z.string() }),
  }),
  z.object({
    'detail-type': z.literal('CloudWatch Alarm State Change'),
    time: z.iso.datetime(),
    detail: z.object({ alarmName: z.string().min(1) }),
  }),
]);

export function subjectOf(event: z.output<typeof wakeEvent>): string {
  return event['detail-type'] === 'CloudWatch Alarm State Change'
    ? subjects.alarm(event.detail.alarmName)
    : subjects.deployment(event.detail.deploymentId);
}

/**
 * Wakes every step waiting on the event's subject (see `WakeRegistry`). The wake is
 * recorded at the time this handler runs, not the event's: what a registration must
 * learn is whether a wake was processed after its step decided (the change it reports
 * happened before that, so a decision made later saw it already). The event's time has
 * whole seconds and the sender's clock; comparing it would either miss a wake or resume
 * a step, again and again, for the same one.
 */
export function createWakeHandler(deps: DepsSource) {
  return stepHandler('wake', wakeEvent, async (event) => {
    const subject = subjectOf(event);
    const resolved = await deps();
    const woken = await wakeAll(resolved, [subject], resolved.clock.now());
    logger.info('woken', { subject, woken, eventTime: event.time });
    return { subject, woken };
  });
}

export const handler = createWakeHandler(awsDeps);
