/** Whether a container path is the mount path or lies under it, that is, in the job's folder. */
export function isUnderMountPath(target: string, mountPath: string): boolean {
  return target === mountPath || target.startsWith(`${mountPath}/`);
}
