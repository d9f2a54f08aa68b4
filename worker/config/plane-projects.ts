// ORCH_PLANE_PROJECTS: the Plane projects orch serves. Inline JSON
// (`{"<project id>": {"identifier": "DEMO", "repo": "demo"}}`) or the path (relative to the orch
// checkout) of a YAML or JSON file holding that map.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './config-error.js';
import { projectDir } from './project-dir.js';

const planeProjectsSchema = z.record(
  z.string().trim().min(1, 'a project id'),
  z.strictObject({
    identifier: z
      .string()
      .trim()
      .regex(/^[A-Za-z][A-Za-z0-9]{0,11}$/, 'a Plane project identifier: a letter, then up to 11 letters or digits'),
    repo: z.string().trim().min(1),
  }),
);

/** A Plane project orch serves: its identifier makes task keys (`DEMO-12`), its repo is in orch.yaml. */
export type PlaneProject = z.output<typeof planeProjectsSchema>[string];

export function loadPlaneProjects(source: string): { projects: Record<string, PlaneProject>; projectsSource: string } {
  const inline = source.trimStart().startsWith('{');
  const where = inline ? 'inline' : path.resolve(projectDir, source);
  const fail = (msg: string): never => {
    throw new ConfigError(`ORCH_PLANE_PROJECTS (${where}): ${msg}`);
  };
  let raw: unknown;
  try {
    raw = inline ? JSON.parse(source) : parseYaml(readFileSync(where, 'utf8'));
  } catch (err) {
    fail((err as Error).message);
  }
  const parsed = planeProjectsSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    fail(parsed.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; '));
  }
  const projects: Record<string, PlaneProject> = {};
  const seen = new Map<string, string>();
  for (const [id, p] of Object.entries(parsed.data!)) {
    const identifier = p.identifier.toUpperCase();
    const other = seen.get(identifier);
    if (other) fail(`projects ${other} and ${id} share the identifier ${identifier}: their task keys would collide`);
    seen.set(identifier, id);
    projects[id.toLowerCase()] = { identifier, repo: p.repo };
  }
  return { projects, projectsSource: where };
}
