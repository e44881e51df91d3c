// Shared helpers for API tests: validate YAML text and get the formatted lines.
import { formatIssue, parseYamlDocuments, validateDocuments, type KnownObject } from '../../../api/index.js';

export function check(yamlText: string): { errors: string[]; warnings: string[]; objects: KnownObject[] } {
  const { documents, problems } = parseYamlDocuments(yamlText, 'test.yaml');
  if (problems.length > 0) throw new Error(`YAML problems: ${JSON.stringify(problems)}`);
  const { objects, issues } = validateDocuments(documents);
  return {
    errors: issues.filter((i) => i.severity === 'error').map(formatIssue),
    warnings: issues.filter((i) => i.severity === 'warning').map(formatIssue),
    objects: objects.map((o) => o.object),
  };
}

export function policyYaml(policy: string, name = 'p'): string {
  return `apiVersion: stork.libopenstorage.org/v1alpha1
kind: SchedulePolicy
metadata:
  name: ${name}
policy:
${policy
  .trim()
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
`;
}
