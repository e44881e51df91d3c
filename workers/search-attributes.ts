// Registers Ferry's search attributes (workflows/search-attributes.ts) in a Temporal namespace when
// they are missing, through the operator service: idempotent, so every worker start may call it
// and a production Temporal needs no manual step. A missing attribute would fail every start of a
// schedule's migration, so the worker refuses to start when it cannot register one.
import type { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_NAMES } from '../workflows/search-attributes.js';

/** temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD (@temporalio/proto is not a direct dependency). */
const KEYWORD = 2;
const GRPC = { alreadyExists: 6, permissionDenied: 7, unimplemented: 12 } as const;

/** Adds the missing ones; returns the names it added (empty when all were there). */
export async function ensureSearchAttributes(
  connection: Pick<Connection, 'operatorService'>,
  namespace: string,
): Promise<string[]> {
  let existing: Record<string, number>;
  try {
    existing = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (err) {
    const code = (err as { code?: number }).code;
    // Some hosted Temporals refuse the operator service: nothing to check or add here.
    if (code === GRPC.permissionDenied) return [];
    // Temporal's time-skipping test server adds but cannot list: add each, "already exists" is fine.
    if (code !== GRPC.unimplemented) throw err;
    const added: string[] = [];
    for (const n of SEARCH_ATTRIBUTE_NAMES) {
      try {
        await connection.operatorService.addSearchAttributes({
          namespace,
          searchAttributes: { [n]: KEYWORD },
        });
        added.push(n);
      } catch (e) {
        if ((e as { code?: number }).code !== GRPC.alreadyExists) throw e;
      }
    }
    return added;
  }
  const missing = SEARCH_ATTRIBUTE_NAMES.filter((n) => existing[n] === undefined);
  const wrong = SEARCH_ATTRIBUTE_NAMES.filter((n) => existing[n] !== undefined && existing[n] !== KEYWORD);
  if (wrong.length > 0)
    throw new Error(
      `search attribute ${wrong.join(', ')} exists in namespace ${namespace} with a type other than Keyword; Ferry needs Keyword`,
    );
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((n) => [n, KEYWORD])),
  });
  return missing;
}
