// `{{name}}` placeholders: how orch.yaml strings are filled in, at load time (worker/pipeline.ts)
// and when a stage, gate or deploy runs (activities).

/** `{{name}}`, whitespace inside the braces tolerated. */
export const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

export const braces = (name: string): string => `{{${name}}}`;

export function placeholdersIn(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
}

/** Replaces each placeholder `lookup` knows; leaves the others as written. */
export function fill(template: string, lookup: (name: string) => string | undefined): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => lookup(name) ?? whole);
}

/** Fills every `{{name}}` from `vars`. Throws, naming them, if any has no value. */
export function renderTemplate(template: string, vars: Record<string, string>): string {
  const missing = new Set<string>();
  const out = fill(template, (name) => {
    if (Object.hasOwn(vars, name)) return vars[name];
    missing.add(name);
    return undefined;
  });
  if (missing.size > 0) {
    const preview = template.length > 60 ? `${template.slice(0, 57)}...` : template;
    throw new Error(
      `template ${JSON.stringify(preview)} needs ${[...missing].map(braces).join(', ')}; ` +
        `given: ${Object.keys(vars).map(braces).join(', ') || 'nothing'}`,
    );
  }
  return out;
}
