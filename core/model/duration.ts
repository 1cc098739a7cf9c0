/**
 * Durations in a pipeline definition are whole seconds, so a definition is plain JSON
 * that the state machines (Wait `SecondsPath`, task `TimeoutSeconds`) read directly.
 * These helpers keep definitions readable: `bake: { durationSeconds: hours(12) }`.
 */

export const minutes = (count: number): number => Math.round(count * 60);
export const hours = (count: number): number => Math.round(count * 3600);
export const days = (count: number): number => Math.round(count * 86_400);

/** `45_000` → `"12h 30m"`; used in plans, blockers and CLI output. */
export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', s ? `${s}s` : ''];
  return parts.filter(Boolean).join(' ');
}
