// Ferry's search attributes (Keyword) on every MigrationSchedule and Migration workflow, so
// `temporal workflow list --query` and the Web UI find a schedule's migrations, a pair's, a
// namespace's:
//
//   FerrySchedule      the MigrationSchedule's name (schedule workflows and their migrations)
//   FerryClusterPair   the ClusterPair migrated to
//   FerryPolicyType    interval | daily | weekly | monthly (a migration's trigger); a schedule
//                      with several types holds them sorted and comma-joined ("daily,interval")
//   FerryNamespace     the Kubernetes namespace of the CR
//
// Set at start where known (typedSearchAttributes), upserted by the workflow once it learns them
// (its spec or policy). They must be registered in the Temporal namespace: the local dev server
// starts with them (localenv/temporal.ts), and `ferry worker` adds those missing at start-up.
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';

export const SA = {
  schedule: defineSearchAttributeKey('FerrySchedule', SearchAttributeType.KEYWORD),
  clusterPair: defineSearchAttributeKey('FerryClusterPair', SearchAttributeType.KEYWORD),
  policyType: defineSearchAttributeKey('FerryPolicyType', SearchAttributeType.KEYWORD),
  namespace: defineSearchAttributeKey('FerryNamespace', SearchAttributeType.KEYWORD),
} as const;

/** Every Ferry search attribute's name (all Keyword). */
export const SEARCH_ATTRIBUTE_NAMES: readonly string[] = Object.values(SA).map((k) => k.name);

export type FerrySearchAttributes = Partial<Record<keyof typeof SA, string>>;

/** The pairs for `typedSearchAttributes` (or an upsert): only the values given and not empty. */
export function searchAttributePairs(values: FerrySearchAttributes): SearchAttributePair[] {
  const out: SearchAttributePair[] = [];
  for (const [field, value] of Object.entries(values) as [keyof typeof SA, string | undefined][]) {
    if (value) out.push({ key: SA[field], value });
  }
  return out;
}
