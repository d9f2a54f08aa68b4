// A time-skipping test environment on the Java test server from Maven Central (worker/temporal/test-server.ts):
// the SDK's default would download a native build from GitHub, which this machine and CI cannot reach.
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { resolveTimeSkippingServer } from '../../worker/temporal/test-server.js';

/** The SDK gives the server 5 s to listen; a JVM on a busy 2-core machine can miss that, so retry that case only. */
const START_ATTEMPTS = 3;

export async function createTimeSkippingEnv(opts: { keywordSearchAttributes?: readonly string[] } = {}): Promise<TestWorkflowEnvironment> {
  const path = await resolveTimeSkippingServer({ log: (l) => process.stderr.write(`${l}\n`) });
  for (let attempt = 1; ; attempt++) {
    try {
      const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
      if (opts.keywordSearchAttributes?.length) {
        // The test server knows no custom search attributes until told, as a real cluster's operator would.
        const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
        await env.connection.operatorService.addSearchAttributes({
          namespace: env.namespace ?? 'default',
          searchAttributes: Object.fromEntries(opts.keywordSearchAttributes.map((name) => [name, keyword])),
        });
      }
      return env;
    } catch (err) {
      if (attempt >= START_ATTEMPTS || !/did not start within/i.test((err as Error).message)) throw err;
      process.stderr.write(`time-skipping server: ${(err as Error).message}; retrying (${attempt}/${START_ATTEMPTS})\n`);
    }
  }
}
