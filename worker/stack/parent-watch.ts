// Notices that this process's parent has exited. Node has no prctl(PR_SET_PDEATHSIG); a process
// whose parent dies is re-parented (to init or a subreaper), so a changed getppid() is the sign.
export function watchParent(onExit: (parentPid: number) => void, intervalMs = 500): void {
  const parent = process.ppid;
  // Started by init itself (or PID 1 of a container): nobody to outlive.
  if (parent <= 1) return;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onExit(parent);
  }, intervalMs);
  timer.unref();
}
