// The agent sandbox's acceptance (issue 12) with the scripted test agent; the suite is
// test/support/sandbox-acceptance.ts, so the real CLIs can run it too.
import { sandboxAcceptance, TEST_AGENT } from '../support/sandbox-acceptance.js';

sandboxAcceptance(TEST_AGENT);
