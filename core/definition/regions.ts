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

const entry = (
  code: string,
  name: string,
  timeZone: string,
  zonePrefix: string,
  zoneIds: readonly number[],
): Region => ({ code, name, timeZone, zones: zoneIds.map((id) => `${zonePrefix}-az${id}`) });

/** Commercial Regions. The order implies nothing: each pipeline orders its waves itself. */
export const REGIONS: readonly Region[] = [
  entry('us-east-1', 'US East (N. Virginia)', 'America/New_York', 'use1', [1, 2, 3, 4, 5, 6]),
  entry('us-east-2', 'US East (Ohio)', 'America/New_York', 'use2', [1, 2, 3]),
  entry('us-west-1', 'US West (N. California)', 'America/Los_Angeles', 'usw1', [1, 3]),
  entry('us-west-2', 'US West (Oregon)', 'America/Los_Angeles', 'usw2', [1, 2, 3, 4]),
  entry('af-south-1', 'Africa (Cape Town)', 'Africa/Johannesburg', 'afs1', [1, 2, 3]),
  entry('ap-east-1', 'Asia Pacific (Hong Kong)', 'Asia/Hong_Kong', 'ape1', [1, 2, 3]),
  entry('ap-south-1', 'Asia Pacific (Mumbai)', 'Asia/Kolkata', 'aps1', [1, 2, 3]),
  entry('ap-south-2', 'Asia Pacific (Hyderabad)', 'Asia/Kolkata', 'aps2', [1, 2, 3]),
  entry('ap-northeast-1', 'Asia Pacific (Tokyo)', 'Asia/Tokyo', 'apne1', [1, 2, 4]),
  entry('ap-northeast-2', 'Asia Pacific (Seoul)', 'Asia/Seoul', 'apne2', [1, 2, 3, 4]),
  entry('ap-northeast-3', 'Asia Pacific (Osaka)', 'Asia/Tokyo', 'apne3', [1, 2, 3]),
  entry('ap-southeast-1', 'Asia Pacific (Singapore)', 'Asia/Singapore', 'apse1', [1, 2, 3]),
  entry('ap-southeast-2', 'Asia Pacific (Sydney)', 'Australia/Sydney', 'apse2', [1, 2, 3]),
  entry('ap-southeast-3', 'Asia Pacific (Jakarta)', 'Asia/Jakarta', 'apse3', [1, 2, 3]),
  entry('ap-southeast-4', 'Asia Pacific (Melbourne)', 'Australia/Melbourne', 'apse4', [1, 2, 3]),
  entry('ca-central-1', 'Canada (Central)', 'America/Toronto', 'cac1', [1, 2, 4]),
  entry('ca-west-1', 'Canada West (Calgary)', 'America/Edmonton', 'caw1', [1, 2, 3]),
  entry('eu-central-1', 'Europe (Frankfurt)', 'Europe/Berlin', 'euc1', [1, 2, 3]),
  entry('eu-central-2', 'Europe (Zurich)', 'Europe/Zurich', 'euc2', [1, 2, 3]),
  entry('eu-west-1', 'Europe (Ireland)', 'Europe/Dublin', 'euw1', [1, 2, 3]),
  entry('eu-west-2', 'Europe (London)', 'Europe/London', 'euw2', [1, 2, 3]),
  entry('eu-west-3', 'Europe (Paris)', 'Europe/Paris', 'euw3', [1, 2, 3]),
  entry('eu-south-1', 'Europe (Milan)', 'Europe/Rome', 'eus1', [1, 2, 3]),
  entry('eu-south-2', 'Europe (Spain)', 'Europe/Madrid', 'eus2', [1, 2, 3]),
  entry('eu-north-1', 'Europe (Stockholm)', 'Europe/Stockholm', 'eun1', [1, 2, 3]),
  entry('il-central-1', 'Israel (Tel Aviv)', 'Asia/Jerusalem', 'ilc1', [1, 2, 3]),
  entry('me-south-1', 'Middle East (Bahrain)', 'Asia/Bahrain', 'mes1', [1, 2, 3]),
  entry('me-central-1', 'Middle East (UAE)', 'Asia/Dubai', 'mec1', [1, 2, 3]),
  entry('sa-east-1', 'South America (São Paulo)', 'America/Sao_Paulo', 'sae1', [1, 2, 3]),
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

/** One Region by code; see {@link regions}. */
export function region(code: string): Region {
  return regions(code)[0] as Region;
}
