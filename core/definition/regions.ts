/**
 * The central list of Regions: one place to add a Region or a zone, and every pipeline
 * built with `waves()` picks it up. Zones are Availability Zone *ids* (`use1-az1`), not
 * names (`us-east-1a`): names map to different physical zones in every account, ids do not.
 */
export interface Region {
  readonly code: string;
  readonly name: string;
  /** The IANA time zone in which this Region's time windows are evaluated. */
  readonly timeZone: string;
  readonly zones: readonly string[];
}

const region = (
  code: string,
  name: string,
  timeZone: string,
  zonePrefix: string,
  zoneIds: readonly number[],
): Region => ({ code, name, timeZone, zones: zoneIds.map((id) => `${zonePrefix}-az${id}`) });

/** Commercial Regions. The order implies nothing: each pipeline orders its waves itself. */
export const REGIONS: readonly Region[] = [
  region('us-east-1', 'US East (N. Virginia)', 'America/New_York', 'use1', [1, 2, 3, 4, 5, 6]),
  region('us-east-2', 'US East (Ohio)', 'America/New_York', 'use2', [1, 2, 3]),
  region('us-west-1', 'US West (N. California)', 'America/Los_Angeles', 'usw1', [1, 3]),
  region('us-west-2', 'US West (Oregon)', 'America/Los_Angeles', 'usw2', [1, 2, 3, 4]),
  region('af-south-1', 'Africa (Cape Town)', 'Africa/Johannesburg', 'afs1', [1, 2, 3]),
  region('ap-east-1', 'Asia Pacific (Hong Kong)', 'Asia/Hong_Kong', 'ape1', [1, 2, 3]),
  region('ap-south-1', 'Asia Pacific (Mumbai)', 'Asia/Kolkata', 'aps1', [1, 2, 3]),
  region('ap-south-2', 'Asia Pacific (Hyderabad)', 'Asia/Kolkata', 'aps2', [1, 2, 3]),
  region('ap-northeast-1', 'Asia Pacific (Tokyo)', 'Asia/Tokyo', 'apne1', [1, 2, 4]),
  region('ap-northeast-2', 'Asia Pacific (Seoul)', 'Asia/Seoul', 'apne2', [1, 2, 3, 4]),
  region('ap-northeast-3', 'Asia Pacific (Osaka)', 'Asia/Tokyo', 'apne3', [1, 2, 3]),
  region('ap-southeast-1', 'Asia Pacific (Singapore)', 'Asia/Singapore', 'apse1', [1, 2, 3]),
  region('ap-southeast-2', 'Asia Pacific (Sydney)', 'Australia/Sydney', 'apse2', [1, 2, 3]),
  region('ap-southeast-3', 'Asia Pacific (Jakarta)', 'Asia/Jakarta', 'apse3', [1, 2, 3]),
  region('ap-southeast-4', 'Asia Pacific (Melbourne)', 'Australia/Melbourne', 'apse4', [1, 2, 3]),
  region('ca-central-1', 'Canada (Central)', 'America/Toronto', 'cac1', [1, 2, 4]),
  region('ca-west-1', 'Canada West (Calgary)', 'America/Edmonton', 'caw1', [1, 2, 3]),
  region('eu-central-1', 'Europe (Frankfurt)', 'Europe/Berlin', 'euc1', [1, 2, 3]),
  region('eu-central-2', 'Europe (Zurich)', 'Europe/Zurich', 'euc2', [1, 2, 3]),
  region('eu-west-1', 'Europe (Ireland)', 'Europe/Dublin', 'euw1', [1, 2, 3]),
  region('eu-west-2', 'Europe (London)', 'Europe/London', 'euw2', [1, 2, 3]),
  region('eu-west-3', 'Europe (Paris)', 'Europe/Paris', 'euw3', [1, 2, 3]),
  region('eu-south-1', 'Europe (Milan)', 'Europe/Rome', 'eus1', [1, 2, 3]),
  region('eu-south-2', 'Europe (Spain)', 'Europe/Madrid', 'eus2', [1, 2, 3]),
  region('eu-north-1', 'Europe (Stockholm)', 'Europe/Stockholm', 'eun1', [1, 2, 3]),
  region('il-central-1', 'Israel (Tel Aviv)', 'Asia/Jerusalem', 'ilc1', [1, 2, 3]),
  region('me-south-1', 'Middle East (Bahrain)', 'Asia/Bahrain', 'mes1', [1, 2, 3]),
  region('me-central-1', 'Middle East (UAE)', 'Asia/Dubai', 'mec1', [1, 2, 3]),
  region('sa-east-1', 'South America (São Paulo)', 'America/Sao_Paulo', 'sae1', [1, 2, 3]),
];

/**
 * Looks Regions up by code, in the order given.
 *
 * @example
 * regions('us-east-1', 'eu-west-1').map((r) => r.zones[0]); // ['use1-az1', 'euw1-az1']
 */
export function regions(...codes: readonly string[]): Region[] {
  return codes.map((code) => {
    const found = REGIONS.find((candidate) => candidate.code === code);
    if (found === undefined) {
      const known = REGIONS.map((candidate) => candidate.code).join(', ');
      throw new RangeError(
        `Unknown Region "${code}". Use one of ${known}, or add it to core/definition/regions.ts.`,
      );
    }
    return found;
  });
}
