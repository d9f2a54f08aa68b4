// Finds or installs the Java time-skipping test server for TestWorkflowEnvironment.createTimeSkipping().
// The SDK's own `cached-download` fetches a native build from GitHub, which this machine and CI cannot reach;
// Maven Central serves the same server as a jar (io.temporal:temporal-test-server), so we run that on the JVM.
// Order: TEMPORAL_TEST_SERVER_PATH, the per-user cache, then `mvn dependency:copy-dependencies` into it.
// `tsx worker/temporal/test-server.ts` installs it (CI does, before the tests) and prints the launcher's path.
import { access, chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Connection } from '@temporalio/client';
import { execa } from 'execa';
import { isExecutable, onPath, orchCacheDir } from './executables.js';

export const TEST_SERVER_VERSION = '1.38.0';
/** The Main-Class of the jar, and what the Java SDK builds its native test server from. */
const MAIN_CLASS = 'io.temporal.testserver.TestServer';
/** Pinned: Maven 3.8 has no default version for this plugin and would otherwise take whatever is newest. */
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
/** The server logs through slf4j-api 1.7.36 but ships no binding: without one it prints a warning on every start. */
const SLF4J_SIMPLE = { groupId: 'org.slf4j', artifactId: 'slf4j-simple', version: '1.7.36' };

export class TestServerError extends Error {
  override name = 'TestServerError';
}

export function testServerDir(env: NodeJS.ProcessEnv = process.env): string {
  return orchCacheDir(`temporal-test-server-${TEST_SERVER_VERSION}`, env);
}


/** The launcher looks java up the same way at run time (JAVA_HOME, then PATH). */
async function findJava(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (env.JAVA_HOME && (await isExecutable(path.join(env.JAVA_HOME, 'bin', 'java')))) return path.join(env.JAVA_HOME, 'bin', 'java');
  return onPath('java', env);
}

export interface ResolveTestServerOptions {
  env?: NodeJS.ProcessEnv;
  /** Progress lines for a person watching (a cold install downloads ~40 MB of jars). */
  log?: (line: string) => void;
}

/** Path of an executable that @temporalio/testing can start as `<path> <port> [extraArgs]` (type 'existing-path'). */
export async function resolveTimeSkippingServer(opts: ResolveTestServerOptions = {}): Promise<string> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (env.TEMPORAL_TEST_SERVER_PATH) {
    if (!(await isExecutable(env.TEMPORAL_TEST_SERVER_PATH))) {
      throw new TestServerError(`TEMPORAL_TEST_SERVER_PATH=${env.TEMPORAL_TEST_SERVER_PATH} is not an executable file`);
    }
    return env.TEMPORAL_TEST_SERVER_PATH;
  }
  // Checked even when cached: the launcher is a shell script and needs a JVM every time it starts.
  if (!(await findJava(env))) {
    throw new TestServerError(
      [
        'the Temporal time-skipping test server runs on Java, and no `java` was found (JAVA_HOME, PATH).',
        'Install a JDK or JRE >= 8 (e.g. `apt-get install openjdk-17-jre-headless`), or set TEMPORAL_TEST_SERVER_PATH',
        'to a temporal-test-server executable you already have.',
      ].join('\n  '),
    );
  }
  const dir = testServerDir(env);
  const launcher = path.join(dir, 'temporal-test-server');
  if (await isExecutable(launcher)) return launcher;
  await installWithMaven(dir, env, log);
  return launcher;
}

function pom(): string {
  const dep = (g: string, a: string, v: string) =>
    `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  return [
    '<project xmlns="http://maven.apache.org/POM/4.0.0">',
    '  <modelVersion>4.0.0</modelVersion>',
    '  <groupId>local.orch</groupId><artifactId>temporal-test-server-fetch</artifactId><version>0</version>',
    '  <packaging>pom</packaging>',
    '  <dependencies>',
    dep('io.temporal', 'temporal-test-server', TEST_SERVER_VERSION),
    dep(SLF4J_SIMPLE.groupId, SLF4J_SIMPLE.artifactId, SLF4J_SIMPLE.version),
    '  </dependencies>',
    '</project>',
    '',
  ].join('\n');
}

// `exec`: the SDK stops the server by killing the pid it started, so the JVM must be that process, not a child
// of sh. The directory is found from $0 because the install is built elsewhere and renamed into place.
// The SDK gives the server only 5 s to accept connections, which a cold JVM misses on a busy 2-core machine
// (measured: 5-9 s with four CPU hogs running): so SerialGC, C1 only, and app.jsa, a class-data archive made
// at install time (about 3 s under the same load). A JVM other than the one that made it ignores it, printing a
// warning; delete the cache dir to make a new one.
const launcherScript = () => `#!/bin/sh
# io.temporal:temporal-test-server ${TEST_SERVER_VERSION} from Maven Central (installed by worker/temporal/test-server.ts).
# Usage: $0 <port> [--enable-time-skipping]   (@temporalio/testing passes <port> then its extraArgs)
dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
java=\${JAVA_HOME:+$JAVA_HOME/bin/}java
cds=-Xshare:auto
[ -f "$dir/app.jsa" ] && cds="-XX:SharedArchiveFile=$dir/app.jsa"
exec "$java" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "$cds" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \\
  \${ORCH_TEST_SERVER_JAVA_OPTS:-} -cp "$dir/lib/*" ${MAIN_CLASS} "$@"
`;

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });

/**
 * Writes app.jsa: one run of the installed server, answering one gRPC call as the SDK's readiness check does,
 * with -XX:ArchiveClassesAtExit (Java >= 13). It must run in the final dir: the archive records the jars' paths.
 */
async function writeClassArchive(dir: string, env: NodeJS.ProcessEnv): Promise<void> {
  const tmp = path.join(dir, `.app-${process.pid}.jsa`);
  const port = await freePort();
  const server = execa(path.join(dir, 'temporal-test-server'), [String(port)], {
    env: { ...env, ORCH_TEST_SERVER_JAVA_OPTS: `-XX:ArchiveClassesAtExit=${tmp}` },
    all: true,
    reject: false,
    stdin: 'ignore',
  });
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      let connection: Connection | undefined;
      try {
        connection = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 2_000 });
        await connection.workflowService.getSystemInfo({});
        break;
      } catch (err) {
        if (server.exitCode !== null || Date.now() > deadline) throw err;
        await sleep(200);
      } finally {
        await connection?.close().catch(() => undefined);
      }
    }
    server.kill('SIGTERM'); // a normal JVM exit: that is when the archive is written
    const done = await Promise.race([server, sleep(60_000, undefined, { ref: false })]);
    if (!done) throw new Error('the server did not exit within 60 s of SIGTERM');
    await access(tmp).catch(() => {
      throw new Error(`java wrote no archive:\n${done.all}`);
    });
    await rename(tmp, path.join(dir, 'app.jsa'));
  } finally {
    server.kill('SIGKILL');
    await rm(tmp, { force: true });
  }
}

async function installWithMaven(target: string, env: NodeJS.ProcessEnv, log: (l: string) => void): Promise<void> {
  const mvn = await onPath('mvn', env);
  if (!mvn) {
    throw new TestServerError(
      [
        `the Temporal time-skipping test server is not installed in ${target}, and Maven (\`mvn\`) is not on PATH to fetch it.`,
        `Install Maven (e.g. \`apt-get install maven\`) and run \`npx tsx worker/temporal/test-server.ts\`,`,
        'or set TEMPORAL_TEST_SERVER_PATH to a temporal-test-server executable you already have.',
      ].join('\n  '),
    );
  }
  const parent = path.dirname(target);
  await mkdir(parent, { recursive: true });
  // Build into a private sibling dir, then rename: a concurrent or interrupted install never leaves half a lib/.
  const build = await mkdtemp(path.join(parent, `.temporal-test-server-${TEST_SERVER_VERSION}-`));
  await chmod(build, 0o755); // mkdtemp makes it 0700; the cache is for every user of this home
  const started = Date.now();
  log(`orch: fetching io.temporal:temporal-test-server ${TEST_SERVER_VERSION} and its dependencies from Maven Central (${mvn}).`);
  log(`orch: this happens once per machine (Maven's ~/.m2 is reused); the result is cached in ${target}`);
  const ticker = setInterval(() => {
    log(`orch: still installing the test server (${Math.round((Date.now() - started) / 1000)}s elapsed)...`);
  }, 20_000);
  try {
    await writeFile(path.join(build, 'pom.xml'), pom());
    const args = ['-B', '-q', '-f', path.join(build, 'pom.xml'), `${DEPENDENCY_PLUGIN}:copy-dependencies`];
    args.push(`-DoutputDirectory=${path.join(build, 'lib')}`, '-DincludeScope=runtime');
    const result = await execa(mvn, args, { env, all: true, reject: false, stdin: 'ignore' });
    if (result.exitCode !== 0) {
      throw new TestServerError(`mvn ${args.join(' ')} failed (exit ${result.exitCode}):\n${result.all}`);
    }
    const script = path.join(build, 'temporal-test-server');
    await writeFile(script, launcherScript());
    await chmod(script, 0o755);
    // With no arguments the server prints its usage and exits 0: proof that java, the classpath and the main class fit.
    const check = await execa(script, [], { env, all: true, reject: false, stdin: 'ignore', timeout: 60_000 });
    if (check.exitCode !== 0 || !check.all.includes('Usage:')) {
      throw new TestServerError(`the installed test server does not start (exit ${check.exitCode}):\n${check.all}`);
    }
    await rm(path.join(build, 'pom.xml'));
    try {
      await rename(build, target);
    } catch (err) {
      // Another install finished first (rename onto a non-empty dir fails): keep theirs, archive and all.
      const code = (err as NodeJS.ErrnoException).code;
      if (!((code === 'ENOTEMPTY' || code === 'EEXIST') && (await isExecutable(path.join(target, 'temporal-test-server'))))) throw err;
      log(`orch: another install finished first; using ${target}`);
      return;
    }
    log(`orch: fetched the test server in ${Math.round((Date.now() - started) / 1000)}s; writing its class-data archive (faster starts)`);
    // Only speed: the server runs without it.
    await writeClassArchive(target, env).catch((err: Error) => log(`orch: no class-data archive, starts will be slower: ${err.message}`));
    log(`orch: installed the test server in ${Math.round((Date.now() - started) / 1000)}s: ${target}`);
  } finally {
    clearInterval(ticker);
    await rm(build, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  resolveTimeSkippingServer()
    .then((p) => {
      process.stdout.write(`temporal test server (${TEST_SERVER_VERSION} or the one you provided): ${p} [${((Date.now() - started) / 1000).toFixed(1)}s]\n`);
    })
    .catch((err: Error) => {
      process.stderr.write(`orch: ${err.message}\n`);
      process.exit(1);
    });
}
