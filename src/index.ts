export { DockerSimManager, type StartComputationOptions } from './manager/docker-sim-manager.js';
export type { DockerSimManagerOptions, NormalizedManagerOptions, PullPolicy, ExecutionMode, EngineOptions, Backend } from './manager/docker-sim-manager-options.js';
export type { SlurmOptions } from './backends/slurm/slurm-backend.js';
export { LABELS } from './runtime/labels.js';
export { SimJob, type SimJobOptions } from './job/sim-job.js';
export type { JobSettings, OutputMode, TemplateSpec, BackoffOptions, RetryReason, RetryPredicate, AttemptFailure, AttemptInfo, PerAttempt } from './job/job-settings.js';
export { readManifest, manifestRecords, readRunResults, latestRecords, manifestPath, type ManifestRecord } from './manifest/run-manifest.js';
export type { ReapResult } from './backends/reap-orphans.js';
export type { SkippedEntry } from './archive/extract-output.js';
export type { JobStatus } from './job/job-status.js';
export type { JobResult, RunSummary, RunStopReason, RunUsage, AttemptLimitsRecord } from './job/job-result.js';
export type { DockerSimManagerEvents, DockerSimManagerEventName } from './events/docker-sim-manager-events.js';
export { DockerSimError, isDockerSimError, type DockerSimErrorCode } from './errors/docker-sim-error.js';
export { ValidationError } from './errors/validation-error.js';
export { DockerUnavailableError } from './errors/docker-unavailable-error.js';
export { ImageNotFoundError } from './errors/image-not-found-error.js';
export { JobExitError } from './errors/job-exit-error.js';
export { JobTimeoutError } from './errors/job-timeout-error.js';
export { JobStalledError } from './errors/job-stalled-error.js';
export { EngineError } from './errors/engine-error.js';
export { JobCancelledError } from './errors/job-cancelled-error.js';
export { RunInProgressError } from './errors/run-in-progress-error.js';
export { ArchiveError } from './errors/archive-error.js';
export { TemplateError } from './errors/template-error.js';
export { DockerodeRuntime, type DockerConnection } from './runtime/dockerode-runtime.js';
export { ProcessNotStartedError } from './runtime/process-not-started-error.js';
export { saveImage, loadImage, type SaveImageOptions, type SaveImageResult, type LoadImageOptions } from './image/image-bundle.js';
export { IntegrityError } from './errors/integrity-error.js';
export { RegistryAuthError } from './errors/registry-auth-error.js';
export { ImagePullError } from './errors/image-pull-error.js';
export { JobSourceError } from './errors/job-source-error.js';
export type { RegistryAuthenticator } from './auth/registry-authenticator.js';
export { registryOf, normalizeRegistry, DOCKER_HUB_REGISTRY, DOCKER_HUB_SERVER_ADDRESS } from './auth/registry-of.js';
export { selectCredentials } from './auth/select-credentials.js';
export { GhcrAuthenticator, type GhcrAuthenticatorOptions } from './auth/ghcr-authenticator.js';
export { DockerHubAuthenticator, type DockerHubAuthenticatorOptions } from './auth/docker-hub-authenticator.js';
export { CustomRegistryAuthenticator, type CustomRegistryAuthenticatorOptions } from './auth/custom-registry-authenticator.js';
export { DockerConfigAuthenticator, type DockerConfigAuthenticatorOptions } from './auth/docker-config-authenticator.js';
export type {
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  ContainerOutput,
  ContainerSummary,
  BindMount,
  ExecSpec,
  ExecState,
  ServiceSpec,
  TaskState,
  SwarmOperations,
  ExitWaiter,
  ImageInfo,
  PullProgress,
  RegistryCredentials,
} from './runtime/container-runtime.js';
export { expandSweep, loadSweepFile, parseSweep, parameterRows, sweepManagerOptions, type LoadedSweep, type ParameterRow, type SweepContext } from './sweep/expand-sweep.js';
export type { SweepSpec, ParameterValue } from './sweep/sweep-schema.js';
export { toKubernetes, MAX_COMPLETIONS_PER_JOB } from './export/kubernetes-job.js';
export { toArgoWorkflow } from './export/argo-workflow.js';
export { toYaml } from './export/to-yaml.js';
export type { ClusterOptions, Toleration } from './export/cluster-options.js';
export type { ExportSource, ExportTarget } from './export/export-sweep.js';
export type { KubernetesObject, ObjectMeta } from './export/kubernetes-object.js';
export { writeReport, renderReportHtml, renderTraceCsv, type ReportFiles } from './report/write-report.js';
export { startMonitor, type MonitorOptions, type MonitorHandle } from './monitor/monitor-server.js';
export type { MonitorSnapshot, MonitorJob } from './monitor/monitor-state.js';
export type { ResourceUsage, UsageWatch, EngineFeatures } from './runtime/container-runtime.js';
