// One quiet Temporal runtime per test process: SDK and core logs at WARN (ORCH_TEST_SDK_LOG to change).
import { DefaultLogger, makeTelemetryFilterString, Runtime, type LogLevel } from '@temporalio/worker';

let installed = false;
export function quietRuntime(level: LogLevel = (process.env.ORCH_TEST_SDK_LOG as LogLevel) ?? 'WARN'): void {
  if (installed) return;
  installed = true;
  Runtime.install({
    logger: new DefaultLogger(level),
    telemetryOptions: { logging: { forward: {}, filter: makeTelemetryFilterString({ core: level === 'WARN' ? 'ERROR' : level }) } },
  });
}
