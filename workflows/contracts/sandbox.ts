// How agent runs and gates are contained on a host, as the worker found it at start-up. The worker
// writes it to `<dataDir>/hosts/<host>/sandbox.json`; /healthz, `orch queue` and task details read it.

export interface SandboxStatus {
  /** true when runs are contained (bwrap found and working). */
  active: boolean;
  mode: 'bwrap' | 'none';
  /** `none`: runs get their own network namespace with only a loopback of their own. */
  network?: 'host' | 'none';
  /** Why runs are not (fully) contained; shown at start-up, /healthz, `orch queue`, task details. */
  warning?: string;
}

/** One host's sandbox status, as its worker recorded it when it started. */
export interface HostSandboxStatus extends SandboxStatus {
  host: string;
  /** When the worker started (ISO 8601). */
  at: string;
}

/** The status file under `<dataDir>/hosts/<host>/`. */
export const SANDBOX_STATUS_FILE = 'sandbox.json';
