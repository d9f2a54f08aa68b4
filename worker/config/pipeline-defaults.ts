// What orch.yaml leaves out: the default stages (four agent stages, then merge and deploy) and the
// default time limits. docs/pipeline-config.md describes them; keep the two in step.

/** A default agent stage: its prompt gives the task and the work; its gate checks the report file. */
function defaultAgentStage(name: string, work: string, report: string) {
  const file = `docs/tasks/{{key}}/${name}.md`;
  const prompt = [
    'You are one stage of orch, an automated software-delivery pipeline.',
    '',
    'Task {{key}} in repository {{repo}}: {{title}}',
    '',
    'Task description:',
    '{{description}}',
    '',
    `This is the {{stage}} stage. ${work}`,
    '',
    `When the work is complete, write ${file} with ${report}.`,
    'Write it last: the stage passes only when that file exists.',
    'Commit everything, that file included, to the current branch.',
    '{{lastFailure}}',
  ].join('\n');
  return { name, prompt, gate: { type: 'file-exists', path: file } };
}

/** The stages when orch.yaml has no `stages` (the schema validates them like written ones). */
export const DEFAULT_STAGES = [
  defaultAgentStage(
    'analysis',
    'Understand the task before anyone changes code: read the code it touches and work out what is really being asked. Do not change any code in this stage.',
    'what is asked, the code involved, constraints and risks, open questions with the assumption you make for each, and how we will know the task is done',
  ),
  defaultAgentStage(
    'design',
    'Read docs/tasks/{{key}}/analysis.md and decide how to implement the task. Do not implement it yet.',
    'the modules that change and how, new or changed interfaces, data and migration concerns, the tests that will prove it works, and the alternatives you rejected and why',
  ),
  defaultAgentStage(
    'development',
    'Implement the task as designed in docs/tasks/{{key}}/design.md. Add or update tests and make sure the existing ones still pass. Keep the change focused on this task.',
    'what changed, how you tested it, and anything left undone',
  ),
  defaultAgentStage(
    'review',
    'Review the changes on the current branch against the default branch as a demanding senior reviewer: correctness, tests, error handling, security, readability, and whether the task as described is actually done. Fix what you find.',
    'your findings, what you fixed, and your verdict',
  ),
  { name: 'merge', kind: 'merge' },
  { name: 'deploy', kind: 'deploy' },
];

export const DEFAULT_TIMEOUTS = { stage: '30m', heartbeat: '30s', idle: '5m', merge: '10m', deploy: '15m' };

export const DEFAULT_ATTEMPTS_PER_STAGE = 2;
export const DEFAULT_MAX_CONCURRENT_AGENTS = 4;
