/**
 * Offline validation of generated Kubernetes objects (v1 ConfigMap, batch/v1 Job) and Argo Workflows
 * (argoproj.io/v1alpha1 Workflow), for tests: no API server is needed.
 *
 * Three layers, because no single one is enough:
 *  1. The OpenAPI schemas, through the precompiled validators of `kubernetes-models` (Kubernetes' own OpenAPI
 *     document) and `@kubernetes-models/argo-workflows` (generated from Argo's Go types): types, enums, `required`,
 *     formats (int32, quantity, base64 …), nested all the way down the pod spec.
 *  2. Unknown fields. Kubernetes' OpenAPI schemas carry no `additionalProperties: false`, so those validators accept
 *     any extra key (`spec.completion: 3`, `containers[0].volumeMount`): the API server would drop or refuse it
 *     (kubectl's default field validation is Strict). We walk each object against the TypeScript declarations the same
 *     packages ship (generated from the same schemas) and report every key they do not declare.
 *  3. The rules that live in Go validation code rather than in the schema, each with the Kubernetes (or Argo) file and
 *     constant it comes from. Comments cite names; no code is copied.
 *
 * Package quirks compensated here:
 *  - Argo's `Template.container` / `.script` embed core/v1 Container, whose schema requires `name`; Argo's own CRD
 *    generator removes that `required` (argo-workflows hack/manifests/crds.go, patchTemplateFields), so we drop
 *    that one error.
 *  - Argo's `ParallelSteps` is modelled as `{steps: [...]}` by the package, but its JSON form is a bare list
 *    (`steps: [[{name, template}]]`, see ParallelSteps.UnmarshalJSON in Argo's workflow_types.go and the same
 *    crds.go hack). We wrap each bare list before schema validation and report the object form as a problem.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Workflow } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Workflow';

// ---------------------------------------------------------------------------------------------------------------
// Limits. Where each comes from (kubernetes/kubernetes unless said otherwise):
// ---------------------------------------------------------------------------------------------------------------

/** k8s.io/apimachinery pkg/util/validation/validation.go: DNS1123LabelMaxLength, dns1123LabelFmt. */
const DNS1123_LABEL_MAX_LENGTH = 63;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Same file: DNS1123SubdomainMaxLength, dns1123SubdomainFmt. */
const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Same file: qualifiedNameMaxLength, qualifiedNameFmt (label and annotation keys, the part after an optional prefix). */
const QUALIFIED_NAME_MAX_LENGTH = 63;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
/** Same file: LabelValueMaxLength, labelValueFmt (the value may be empty). */
const LABEL_VALUE_MAX_LENGTH = 63;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Same file: configMapKeyFmt; IsConfigMapKey also caps keys at DNS1123SubdomainMaxLength and refuses '.', '..', '..*'. */
const CONFIG_MAP_KEY = /^[-._a-zA-Z0-9]+$/;
/** k8s.io/apimachinery pkg/api/validation/objectmeta.go: TotalAnnotationSizeLimitB, len(key)+len(value) summed. */
const TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * 1024;
/**
 * pkg/apis/core/types.go MaxSecretSize, which ValidateConfigMap (pkg/apis/core/validation/validation.go) applies to
 * the summed length of every data value plus every decoded binaryData value.
 */
const MAX_CONFIG_MAP_DATA_BYTES = 1024 * 1024;
/**
 * Serialized size of any one object. etcd refuses requests over its --max-request-bytes, 1.5 MiB by default
 * (1,572,864). We use 1 MiB (1,048,576) as a conservative bound for every object: the JSON we measure is not the
 * protobuf etcd stores, the API server adds managedFields and status, and a Job's status.completedIndexes /
 * failedIndexes grow while it runs. (A ConfigMap whose data alone is near 1 MiB therefore fails this bound too.)
 */
const MAX_SERIALIZED_OBJECT_BYTES = 1024 * 1024;

/** pkg/apis/batch/validation/validation.go: maxParallelismForIndexedJob. */
const MAX_PARALLELISM_FOR_INDEXED_JOB = 100_000;
/** Same file: maxFailedIndexesForIndexedJob. */
const MAX_FAILED_INDEXES_FOR_INDEXED_JOB = 100_000;
/** Same file: completionsSoftLimit, parallelismLimitForHighCompletions, maxFailedIndexesLimitForHighCompletions. */
const COMPLETIONS_SOFT_LIMIT = 100_000;
const PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS = 10_000;
const MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS = 10_000;
/** Same file: maxPodFailurePolicyRules, maxPodFailurePolicyOnExitCodesValues, maxPodFailurePolicyOnPodConditionsPatterns. */
const MAX_POD_FAILURE_POLICY_RULES = 20;
const MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES = 255;
const MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS = 20;
/** Same file: supportedPodFailurePolicyActions. */
const POD_FAILURE_POLICY_ACTIONS = ['Count', 'FailIndex', 'FailJob', 'Ignore'];

/** argo-workflows workflow/validate/validate.go: workflowFieldNameFmt, workflowFieldMaxLength (template, step, task names). */
const ARGO_FIELD_NAME = /^[a-zA-Z0-9][-a-zA-Z0-9]*$/;
const ARGO_FIELD_NAME_MAX_LENGTH = 128;

/** Random suffix the API server appends to metadata.generateName (k8s.io/apiserver names.SimpleNameGenerator: 5 chars). */
const GENERATED_NAME_SUFFIX = 'xxxxx';

// ---------------------------------------------------------------------------------------------------------------

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
function objAt(value: unknown): Obj | undefined {
  return isObj(value) ? value : undefined;
}
function listAt(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
function strAt(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
function intAt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) ? value : undefined;
}
function bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
function join(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return base ? `${base}.${key}` : key;
  return `${base}[${JSON.stringify(key)}]`;
}

/** Collects problems about one object, each prefixed with the object's kind/name. */
class Problems {
  readonly list: string[] = [];
  constructor(private readonly who: string) {}
  add(field: string, message: string): void {
    this.list.push(`${this.who}: ${field || '(object)'}: ${message}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Name, label and annotation rules (k8s.io/apimachinery pkg/util/validation/validation.go and
// pkg/api/validation/objectmeta.go).
// ---------------------------------------------------------------------------------------------------------------

function dns1123LabelErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_LABEL_MAX_LENGTH) errs.push(`must be no more than ${DNS1123_LABEL_MAX_LENGTH} characters (is ${value.length})`);
  if (!DNS1123_LABEL.test(value)) errs.push(`must be a DNS-1123 label: lower case alphanumerics or '-', starting and ending alphanumeric`);
  return errs;
}

function dns1123SubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > DNS1123_SUBDOMAIN_MAX_LENGTH) errs.push(`must be no more than ${DNS1123_SUBDOMAIN_MAX_LENGTH} characters (is ${value.length})`);
  if (!DNS1123_SUBDOMAIN.test(value)) errs.push(`must be a DNS-1123 subdomain: lower case alphanumerics, '-' or '.', starting and ending alphanumeric`);
  return errs;
}

/** IsQualifiedName: an optional DNS-1123 subdomain prefix and '/', then a name of at most 63 characters. */
function qualifiedNameErrors(value: string): string[] {
  const parts = value.split('/');
  let name = value;
  const errs: string[] = [];
  if (parts.length === 2) {
    const [prefix = '', rest = ''] = parts;
    name = rest;
    if (prefix.length === 0) errs.push('prefix part must be non-empty');
    else errs.push(...dns1123SubdomainErrors(prefix).map((e) => `prefix part ${e}`));
  } else if (parts.length > 2) {
    return [`a qualified name must be an optional DNS subdomain prefix and '/' followed by a name`];
  }
  if (name.length === 0) errs.push('name part must be non-empty');
  else {
    if (name.length > QUALIFIED_NAME_MAX_LENGTH) errs.push(`name part must be no more than ${QUALIFIED_NAME_MAX_LENGTH} characters (is ${name.length})`);
    if (!QUALIFIED_NAME.test(name)) errs.push(`name part must match ${QUALIFIED_NAME.source}`);
  }
  return errs;
}

function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > LABEL_VALUE_MAX_LENGTH) errs.push(`must be no more than ${LABEL_VALUE_MAX_LENGTH} characters (is ${value.length})`);
  if (!LABEL_VALUE.test(value)) errs.push(`must be empty or match ${LABEL_VALUE.source}`);
  return errs;
}

/** ValidateLabels: every key a qualified name, every value a label value. Used for labels, selectors, nodeSelector. */
function checkLabelMap(map: unknown, field: string, problems: Problems): void {
  const labels = objAt(map);
  if (!labels) return;
  for (const [key, value] of Object.entries(labels)) {
    for (const e of qualifiedNameErrors(key)) problems.add(join(field, key), `label key ${JSON.stringify(key)}: ${e}`);
    if (typeof value === 'string') for (const e of labelValueErrors(value)) problems.add(join(field, key), `label value ${JSON.stringify(value)}: ${e}`);
  }
}

/** ValidateAnnotations: keys qualified names (checked lower-cased), total size of keys and values <= 256 KiB. */
function checkAnnotations(map: unknown, field: string, problems: Problems): void {
  const annotations = objAt(map);
  if (!annotations) return;
  let total = 0;
  for (const [key, value] of Object.entries(annotations)) {
    for (const e of qualifiedNameErrors(key.toLowerCase())) problems.add(join(field, key), `annotation key ${JSON.stringify(key)}: ${e}`);
    total += bytes(key) + (typeof value === 'string' ? bytes(value) : 0);
  }
  if (total > TOTAL_ANNOTATION_SIZE_LIMIT_B) problems.add(field, `annotations total ${total} bytes, must have at most ${TOTAL_ANNOTATION_SIZE_LIMIT_B} bytes (TotalAnnotationSizeLimitB)`);
}

/** Labels and annotations of any ObjectMeta-like node (object metadata, pod templates, Argo template metadata). */
function checkMetaLabels(meta: unknown, field: string, problems: Problems): void {
  const m = objAt(meta);
  if (!m) return;
  checkLabelMap(m.labels, join(field, 'labels'), problems);
  checkAnnotations(m.annotations, join(field, 'annotations'), problems);
}

type NameRule = 'subdomain' | 'job';

/**
 * ValidateObjectMeta on a top-level object: name (or generateName) valid for the kind, namespace a DNS-1123 label,
 * labels and annotations. `job` adds the label-value limit: the Job controller labels its pods with
 * batch.kubernetes.io/job-name=<name> (and the legacy job-name), so a longer name makes every pod creation fail.
 */
function checkObjectMeta(object: Obj, rule: NameRule, problems: Problems): string | undefined {
  const meta = objAt(object.metadata);
  if (!meta) {
    problems.add('metadata', 'is required');
    return undefined;
  }
  const name = strAt(meta.name);
  const generateName = strAt(meta.generateName);
  let effective: string | undefined;
  if (name !== undefined && name !== '') {
    effective = name;
    for (const e of dns1123SubdomainErrors(name)) problems.add('metadata.name', `${JSON.stringify(name)} ${e}`);
  } else if (generateName !== undefined && generateName !== '') {
    effective = generateName + GENERATED_NAME_SUFFIX;
    // NameIsDNSSubdomain with prefix=true: a trailing '-' is allowed in generateName.
    const masked = generateName.endsWith('-') ? `${generateName.slice(0, -1)}a` : generateName;
    for (const e of dns1123SubdomainErrors(masked)) problems.add('metadata.generateName', `${JSON.stringify(generateName)} ${e}`);
  } else {
    problems.add('metadata.name', 'name or generateName is required');
  }
  if (rule === 'job' && effective !== undefined && effective.length > LABEL_VALUE_MAX_LENGTH) {
    const field = name ? 'metadata.name' : 'metadata.generateName';
    problems.add(field, `Job name ${JSON.stringify(effective)} is ${effective.length} characters; it must be at most ${LABEL_VALUE_MAX_LENGTH} (LabelValueMaxLength), because the Job controller labels every pod with batch.kubernetes.io/job-name=<name>`);
  }
  const namespace = strAt(meta.namespace);
  if (namespace !== undefined) for (const e of dns1123LabelErrors(namespace)) problems.add('metadata.namespace', `${JSON.stringify(namespace)} ${e}`);
  checkMetaLabels(meta, 'metadata', problems);
  return effective;
}

// ---------------------------------------------------------------------------------------------------------------
// Pod spec rules (pkg/apis/core/validation/validation.go: validateContainers / validateInitContainers, validateVolumes,
// ValidateVolumeMounts).
// ---------------------------------------------------------------------------------------------------------------

interface ContainerRef {
  field: string;
  container: Obj;
}

/** Names DNS-1123 labels and unique across the lists; returns the names seen. */
function checkContainerNames(containers: ContainerRef[], problems: Problems): Set<string> {
  const seen = new Set<string>();
  for (const { field, container } of containers) {
    const name = strAt(container.name);
    if (name === undefined) continue; // the schema reports a missing name
    for (const e of dns1123LabelErrors(name)) problems.add(join(field, 'name'), `container name ${JSON.stringify(name)} ${e}`);
    if (seen.has(name)) problems.add(join(field, 'name'), `duplicate container name ${JSON.stringify(name)} (names must be unique across containers and initContainers)`);
    seen.add(name);
  }
  return seen;
}

/** Volume names DNS-1123 labels and unique; returns the declared names. */
function checkVolumes(volumes: unknown, field: string, problems: Problems): Set<string> {
  const names = new Set<string>();
  listAt(volumes).forEach((volume, i) => {
    const name = strAt(objAt(volume)?.name);
    if (name === undefined) return;
    for (const e of dns1123LabelErrors(name)) problems.add(join(join(field, i), 'name'), `volume name ${JSON.stringify(name)} ${e}`);
    if (names.has(name)) problems.add(join(join(field, i), 'name'), `duplicate volume name ${JSON.stringify(name)}`);
    names.add(name);
  });
  return names;
}

/** Every volumeMount names a declared volume, mountPath present and unique per container, subPath relative without '..'. */
function checkVolumeMounts(container: ContainerRef, volumes: Set<string>, problems: Problems): void {
  const mountPaths = new Set<string>();
  listAt(container.container.volumeMounts).forEach((mount, i) => {
    const m = objAt(mount);
    if (!m) return;
    const field = join(join(container.field, 'volumeMounts'), i);
    const name = strAt(m.name);
    if (name !== undefined && !volumes.has(name)) {
      problems.add(join(field, 'name'), `volumeMount refers to volume ${JSON.stringify(name)}, which is not declared (declared: ${[...volumes].map((v) => JSON.stringify(v)).join(', ') || 'none'})`);
    }
    const mountPath = strAt(m.mountPath);
    if (mountPath !== undefined) {
      if (mountPath === '') problems.add(join(field, 'mountPath'), 'is required');
      else if (mountPaths.has(mountPath)) problems.add(join(field, 'mountPath'), `${JSON.stringify(mountPath)} must be unique within the container`);
      mountPaths.add(mountPath);
    }
    const subPath = strAt(m.subPath);
    if (subPath) {
      // validateLocalDescendingPath
      if (path.posix.isAbsolute(subPath) || /^[A-Za-z]:|^\\/.test(subPath)) problems.add(join(field, 'subPath'), `${JSON.stringify(subPath)} must be a relative path`);
      if (subPath.split(/[\\/]/).includes('..')) problems.add(join(field, 'subPath'), `${JSON.stringify(subPath)} must not contain '..'`);
    }
  });
}

/** Containers, init containers (and ephemeral containers) of a core/v1 PodSpec, with their field paths. */
function podContainers(spec: Obj, field: string): ContainerRef[] {
  const refs: ContainerRef[] = [];
  for (const list of ['initContainers', 'containers', 'ephemeralContainers']) {
    listAt(spec[list]).forEach((c, i) => {
      const container = objAt(c);
      if (container) refs.push({ field: join(join(field, list), i), container });
    });
  }
  return refs;
}

/** The pod-spec rules on a core/v1 PodSpec; returns the container names (for podFailurePolicy). */
function checkPodSpec(spec: Obj, field: string, problems: Problems): Set<string> {
  const containers = podContainers(spec, field);
  const names = checkContainerNames(containers, problems);
  const volumes = checkVolumes(spec.volumes, join(field, 'volumes'), problems);
  for (const c of containers) checkVolumeMounts(c, volumes, problems);
  checkLabelMap(spec.nodeSelector, join(field, 'nodeSelector'), problems);
  return names;
}

// ---------------------------------------------------------------------------------------------------------------
// Schema validation (layer 1) and unknown fields (layer 2).
// ---------------------------------------------------------------------------------------------------------------

/** What `@kubernetes-models/validate` throws: an ajv ValidationError whose `errors` are ajv ErrorObjects. */
interface SchemaError {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

function pointerToField(pointer: string): string {
  let field = '';
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    field = /^\d+$/.test(segment) ? join(field, Number(segment)) : join(field, segment);
  }
  return field;
}

function schemaErrors(model: { validate(): void }): SchemaError[] {
  try {
    model.validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: unknown }).errors;
    if (Array.isArray(errors)) return errors as SchemaError[];
    return [{ instancePath: '', keyword: 'exception', message: error instanceof Error ? error.message : String(error), params: {} }];
  }
}

/** Reports schema errors grouped by field; `oneOf`/`anyOf` failures are folded into one message per field. */
function reportSchemaErrors(errors: SchemaError[], schema: string, problems: Problems, mapPointer: (p: string) => string = (p) => p): void {
  const byPath = new Map<string, SchemaError[]>();
  for (const error of errors) {
    const pointer = mapPointer(error.keyword === 'required' ? `${error.instancePath}/${String(error.params.missingProperty)}` : error.instancePath);
    byPath.set(pointer, [...(byPath.get(pointer) ?? []), error]);
  }
  for (const [pointer, group] of byPath) {
    const describe = (e: SchemaError): string => {
      if (e.keyword === 'required') return 'is required';
      if (e.keyword === 'enum') return `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
      return e.message ?? e.keyword;
    };
    const alternatives = group.some((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf');
    const messages = [...new Set(group.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf').map(describe))];
    const text = alternatives ? `matches none of the allowed forms (${messages.join('; ')})` : messages.join('; ');
    problems.add(pointerToField(pointer), `${text} [${schema} schema]`);
  }
}

interface DeclaredTypes {
  checker: ts.TypeChecker;
  roots: Map<string, ts.Type>;
}
let declaredTypes: DeclaredTypes | undefined;

/**
 * The TypeScript declarations of the schema packages, loaded once per test file (about half a second) through the
 * compiler API: an in-memory module imports the three root interfaces so the checker can answer "which keys does this
 * type declare" for every nested type.
 */
function loadDeclaredTypes(): DeclaredTypes {
  if (declaredTypes) return declaredTypes;
  const here = path.dirname(fileURLToPath(import.meta.url));
  const rootFile = path.join(here, '__kubernetes_schema_roots__.ts').replace(/\\/g, '/');
  const rootSource = [
    "import type { IJob } from 'kubernetes-models/batch/v1/Job';",
    "import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';",
    "import type { IWorkflow } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Workflow';",
    "import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';",
    'export interface Roots { Job: IJob; ConfigMap: IConfigMap; Workflow: IWorkflow; NetworkPolicy: INetworkPolicy }',
    '',
  ].join('\n');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es5.d.ts'],
    types: [],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
  };
  const host = ts.createCompilerHost(options, true);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (fileName, languageVersion, onError, shouldCreate) =>
    fileName === rootFile ? ts.createSourceFile(fileName, rootSource, languageVersion, true) : getSourceFile(fileName, languageVersion, onError, shouldCreate);
  host.fileExists = (fileName) => fileName === rootFile || fileExists(fileName);
  host.readFile = (fileName) => (fileName === rootFile ? rootSource : readFile(fileName));
  const program = ts.createProgram([rootFile], options, host);
  const source = program.getSourceFile(rootFile);
  const diagnostics = source ? ts.getPreEmitDiagnostics(program, source) : [];
  if (!source || diagnostics.length > 0) {
    throw new Error(`cannot load the schema packages' type declarations: ${diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' ')).join('; ')}`);
  }
  const checker = program.getTypeChecker();
  const roots = new Map<string, ts.Type>();
  const rootsDecl = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'Roots');
  if (!rootsDecl) throw new Error('schema roots interface missing');
  for (const property of checker.getPropertiesOfType(checker.getTypeAtLocation(rootsDecl.name))) roots.set(property.name, checker.getTypeOfSymbol(property));
  declaredTypes = { checker, roots };
  return declaredTypes;
}

/**
 * Walks `value` against a declared type and reports keys the type does not declare. Stops (accepts anything) at
 * `any`/`unknown`, at free-form objects (no properties, no index signature) and where the value's shape does not
 * match the type at all (the schema validator reports that).
 */
function findUnknownFields(types: DeclaredTypes, declared: ts.Type, value: unknown, field: string, report: (field: string) => void): void {
  const { checker } = types;
  if (value === null || typeof value !== 'object') return;
  const type = checker.getNonNullableType(declared);
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  const parts = type.isUnion() ? type.types : [type];
  if (Array.isArray(value)) {
    const arrayType = parts.find((t) => checker.isArrayType(t));
    const element = arrayType ? checker.getTypeArguments(arrayType as ts.TypeReference)[0] : undefined;
    if (element) value.forEach((item, i) => findUnknownFields(types, element, item, join(field, i), report));
    return;
  }
  const objectTypes = parts.filter((t) => (t.flags & ts.TypeFlags.Object) !== 0 && !checker.isArrayType(t));
  if (objectTypes.length === 0) return;
  const properties = new Map<string, ts.Symbol>();
  let indexType: ts.Type | undefined;
  for (const t of objectTypes) {
    for (const property of checker.getPropertiesOfType(t)) properties.set(property.name, property);
    indexType ??= checker.getIndexInfoOfType(t, ts.IndexKind.String)?.type;
  }
  if (properties.size === 0 && !indexType) return;
  for (const [key, child] of Object.entries(value)) {
    const property = properties.get(key);
    if (property) findUnknownFields(types, checker.getTypeOfSymbol(property), child, join(field, key), report);
    else if (indexType) findUnknownFields(types, indexType, child, join(field, key), report);
    else report(join(field, key));
  }
}

function checkUnknownFields(root: 'Job' | 'ConfigMap' | 'Workflow' | 'NetworkPolicy', object: unknown, schema: string, problems: Problems, mapField: (f: string) => string = (f) => f): void {
  const types = loadDeclaredTypes();
  const declared = types.roots.get(root);
  if (!declared) throw new Error(`no declared type for ${root}`);
  findUnknownFields(types, declared, object, '', (field) => problems.add(mapField(field), `unknown field (not in the ${schema} schema)`));
}

// ---------------------------------------------------------------------------------------------------------------
// Per kind.
// ---------------------------------------------------------------------------------------------------------------

/** Objects whose JSON is over MAX_SERIALIZED_OBJECT_BYTES. */
function checkSerializedSize(object: unknown, problems: Problems): void {
  const size = bytes(JSON.stringify(object) ?? '');
  if (size > MAX_SERIALIZED_OBJECT_BYTES) {
    problems.add('(object)', `serialized size ${size} bytes is over ${MAX_SERIALIZED_OBJECT_BYTES} bytes (conservative bound under etcd's default 1.5 MiB request limit)`);
  }
}

function validateConfigMap(object: Obj, problems: Problems): void {
  reportSchemaErrors(schemaErrors(new ConfigMap(object as ConstructorParameters<typeof ConfigMap>[0])), 'v1 ConfigMap', problems);
  checkUnknownFields('ConfigMap', object, 'v1 ConfigMap', problems);
  checkObjectMeta(object, 'subdomain', problems); // ValidateConfigMapName = NameIsDNSSubdomain
  // ValidateConfigMap: keys IsConfigMapKey, no key in both data and binaryData, total size <= MaxSecretSize.
  const data = objAt(object.data) ?? {};
  const binaryData = objAt(object.binaryData) ?? {};
  let total = 0;
  const checkKey = (bag: string, key: string): void => {
    const field = join(bag, key);
    if (key.length > DNS1123_SUBDOMAIN_MAX_LENGTH) problems.add(field, `key is ${key.length} characters, must be no more than ${DNS1123_SUBDOMAIN_MAX_LENGTH}`);
    if (!CONFIG_MAP_KEY.test(key)) problems.add(field, `key ${JSON.stringify(key)} must consist of alphanumeric characters, '-', '_' or '.' (${CONFIG_MAP_KEY.source})`);
    if (key === '.' || key === '..' || key.startsWith('..')) problems.add(field, `key ${JSON.stringify(key)} must not be '.' or '..' or start with '..'`);
  };
  for (const [key, value] of Object.entries(data)) {
    checkKey('data', key);
    if (typeof value === 'string') total += bytes(value);
  }
  for (const [key, value] of Object.entries(binaryData)) {
    checkKey('binaryData', key);
    if (key in data) problems.add(join('binaryData', key), `duplicate of data key ${JSON.stringify(key)}`);
    if (typeof value === 'string') total += Buffer.from(value, 'base64').length; // counted decoded, as the API server does
  }
  if (total > MAX_CONFIG_MAP_DATA_BYTES) {
    problems.add('data', `data + binaryData total ${total} bytes, must have at most ${MAX_CONFIG_MAP_DATA_BYTES} bytes (MaxSecretSize, applied by ValidateConfigMap)`);
  }
}

function validateJob(object: Obj, problems: Problems): void {
  reportSchemaErrors(schemaErrors(new Job(object as ConstructorParameters<typeof Job>[0])), 'batch/v1 Job', problems);
  checkUnknownFields('Job', object, 'batch/v1 Job', problems);
  // ValidateJob uses ValidateReplicationControllerName (NameIsDNSSubdomain); plus the label-value limit, see checkObjectMeta.
  const name = checkObjectMeta(object, 'job', problems);
  const spec = objAt(object.spec);
  if (!spec) return; // the schema does not require spec, the API server does
  const template = objAt(spec.template);
  const podSpec = objAt(template?.spec);
  checkMetaLabels(template?.metadata, 'spec.template.metadata', problems);
  const containerNames = podSpec ? checkPodSpec(podSpec, 'spec.template.spec', problems) : new Set<string>();

  // validateJobSpec: non-negative counters.
  for (const key of ['parallelism', 'completions', 'activeDeadlineSeconds', 'backoffLimit', 'ttlSecondsAfterFinished', 'backoffLimitPerIndex', 'maxFailedIndexes']) {
    const value = intAt(spec[key]);
    if (value !== undefined && value < 0) problems.add(join('spec', key), `must be greater than or equal to 0 (is ${value})`);
  }
  const completions = intAt(spec.completions);
  const parallelism = intAt(spec.parallelism);
  const backoffLimitPerIndex = intAt(spec.backoffLimitPerIndex);
  const maxFailedIndexes = intAt(spec.maxFailedIndexes);
  const indexed = spec.completionMode === 'Indexed';

  if (spec.maxFailedIndexes !== undefined && spec.backoffLimitPerIndex === undefined) {
    problems.add('spec.backoffLimitPerIndex', 'is required when maxFailedIndexes is specified');
  }
  if (indexed) {
    if (spec.completions === undefined || spec.completions === null) problems.add('spec.completions', 'is required when completionMode is Indexed');
    if (parallelism !== undefined && parallelism > MAX_PARALLELISM_FOR_INDEXED_JOB) {
      problems.add('spec.parallelism', `${parallelism} must be less than or equal to ${MAX_PARALLELISM_FOR_INDEXED_JOB} when completionMode is Indexed (maxParallelismForIndexedJob)`);
    }
    if (completions !== undefined && maxFailedIndexes !== undefined && maxFailedIndexes > completions) {
      problems.add('spec.maxFailedIndexes', `${maxFailedIndexes} must be less than or equal to completions (${completions})`);
    }
    if (maxFailedIndexes !== undefined && maxFailedIndexes > MAX_FAILED_INDEXES_FOR_INDEXED_JOB) {
      problems.add('spec.maxFailedIndexes', `${maxFailedIndexes} must be less than or equal to ${MAX_FAILED_INDEXES_FOR_INDEXED_JOB} (maxFailedIndexesForIndexedJob)`);
    }
    if (completions !== undefined && completions > COMPLETIONS_SOFT_LIMIT && backoffLimitPerIndex !== undefined) {
      if (maxFailedIndexes === undefined) {
        problems.add('spec.maxFailedIndexes', `is required when completions (${completions}) is above ${COMPLETIONS_SOFT_LIMIT} and backoffLimitPerIndex is set (completionsSoftLimit)`);
      } else if (maxFailedIndexes > MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS) {
        problems.add('spec.maxFailedIndexes', `${maxFailedIndexes} must be less than or equal to ${MAX_FAILED_INDEXES_LIMIT_FOR_HIGH_COMPLETIONS} when completions (${completions}) is above ${COMPLETIONS_SOFT_LIMIT} and backoffLimitPerIndex is set (maxFailedIndexesLimitForHighCompletions)`);
      }
      if (parallelism !== undefined && parallelism > PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS) {
        problems.add('spec.parallelism', `${parallelism} must be less than or equal to ${PARALLELISM_LIMIT_FOR_HIGH_COMPLETIONS} when completions (${completions}) is above ${COMPLETIONS_SOFT_LIMIT} and backoffLimitPerIndex is set (parallelismLimitForHighCompletions)`);
      }
    }
    // ValidateJob: the pod hostname of the last index, "<name>-<completions-1>", must be a DNS-1123 label.
    if (name !== undefined && completions !== undefined && completions > 0) {
      const hostname = `${name}-${completions - 1}`;
      if (dns1123LabelErrors(hostname).length > 0) {
        problems.add('metadata.name', `Indexed Job pods get the hostname "<name>-<index>"; the last one, ${JSON.stringify(hostname)} (${hostname.length} characters), is not a valid DNS-1123 label (at most ${DNS1123_LABEL_MAX_LENGTH})`);
      }
    }
  } else {
    if (spec.backoffLimitPerIndex !== undefined) problems.add('spec.backoffLimitPerIndex', 'requires completionMode Indexed');
    if (spec.maxFailedIndexes !== undefined) problems.add('spec.maxFailedIndexes', 'requires completionMode Indexed');
    if (spec.successPolicy !== undefined) problems.add('spec.successPolicy', 'requires completionMode Indexed');
  }

  // Selector: the API server generates it unless manualSelector is true, and refuses a hand-written one otherwise
  // (validateGeneratedSelector: "`selector` not auto-generated").
  if (spec.selector !== undefined && spec.manualSelector !== true) {
    problems.add('spec.selector', 'must be left out unless manualSelector is true: the API server generates it from the Job uid');
  }
  const selector = objAt(spec.selector);
  if (selector) checkLabelMap(selector.matchLabels, 'spec.selector.matchLabels', problems);

  // validateJobSpec: restartPolicy must be given explicitly as OnFailure or Never (the pod default Always is refused),
  // and Never when podFailurePolicy is set.
  const restartPolicy = podSpec?.restartPolicy;
  const rpField = 'spec.template.spec.restartPolicy';
  const podFailurePolicy = objAt(spec.podFailurePolicy);
  if (restartPolicy === undefined || restartPolicy === '' || restartPolicy === 'Always') {
    problems.add(rpField, `is required for a Job and must be "OnFailure" or "Never"${restartPolicy === 'Always' ? ' (not "Always")' : ''}`);
  } else if (podFailurePolicy && restartPolicy !== 'Never') {
    problems.add(rpField, `only "Never" is supported when podFailurePolicy is specified (is ${JSON.stringify(restartPolicy)})`);
  }
  // backoffLimitPerIndex: its API contract (k8s.io/api batch/v1 types.go, JobSpec.BackoffLimitPerIndex, KEP-3850) says
  // it "can only be set when Job's completionMode=Indexed, and the Pod's restart policy is Never". The API server's
  // validateJobSpec does not refuse OnFailure, but with OnFailure failed containers restart in place, so the per-index
  // failure count (batch.kubernetes.io/job-index-failure-count) never sees them. We hold generated Jobs to the contract.
  if (spec.backoffLimitPerIndex !== undefined && restartPolicy !== undefined && restartPolicy !== 'Never' && restartPolicy !== 'Always' && restartPolicy !== '') {
    problems.add(rpField, `must be "Never" when spec.backoffLimitPerIndex is set (is ${JSON.stringify(restartPolicy)}); JobSpec.backoffLimitPerIndex can only be used with restartPolicy Never`);
  }

  if (podFailurePolicy) checkPodFailurePolicy(podFailurePolicy, spec, containerNames, problems);
  // validatePodReplacementPolicy: with a podFailurePolicy only "Failed" is allowed.
  if (podFailurePolicy && spec.podReplacementPolicy !== undefined && spec.podReplacementPolicy !== 'Failed') {
    problems.add('spec.podReplacementPolicy', `must be "Failed" when podFailurePolicy is specified (is ${JSON.stringify(spec.podReplacementPolicy)})`);
  }
}

/** validatePodFailurePolicy / validatePodFailurePolicyRule / …OnExitCodes / …OnPodConditions. */
function checkPodFailurePolicy(policy: Obj, spec: Obj, containerNames: Set<string>, problems: Problems): void {
  const rules = listAt(policy.rules);
  if (rules.length > MAX_POD_FAILURE_POLICY_RULES) problems.add('spec.podFailurePolicy.rules', `has ${rules.length} rules, must have at most ${MAX_POD_FAILURE_POLICY_RULES} (maxPodFailurePolicyRules)`);
  rules.forEach((r, i) => {
    const rule = objAt(r);
    if (!rule) return;
    const field = `spec.podFailurePolicy.rules[${i}]`;
    const action = strAt(rule.action);
    if (action === 'FailIndex' && spec.backoffLimitPerIndex === undefined) problems.add(`${field}.action`, 'FailIndex requires spec.backoffLimitPerIndex to be set');
    else if (action !== undefined && !POD_FAILURE_POLICY_ACTIONS.includes(action)) problems.add(`${field}.action`, `must be one of ${POD_FAILURE_POLICY_ACTIONS.join(', ')}`);
    const onExitCodes = objAt(rule.onExitCodes);
    const onPodConditions = listAt(rule.onPodConditions);
    if (onExitCodes && onPodConditions.length > 0) problems.add(field, 'specifying both onExitCodes and onPodConditions is not supported');
    if (!onExitCodes && onPodConditions.length === 0) problems.add(field, 'specifying one of onExitCodes and onPodConditions is required');
    if (onPodConditions.length > MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS) {
      problems.add(`${field}.onPodConditions`, `has ${onPodConditions.length} patterns, must have at most ${MAX_POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERNS}`);
    }
    if (onExitCodes) {
      const containerName = strAt(onExitCodes.containerName);
      if (containerName !== undefined && !containerNames.has(containerName)) {
        problems.add(`${field}.onExitCodes.containerName`, `${JSON.stringify(containerName)} must be one of the container or initContainer names in the pod template`);
      }
      const values = listAt(onExitCodes.values).filter((v): v is number => typeof v === 'number');
      if (values.length === 0) problems.add(`${field}.onExitCodes.values`, 'at least one value is required');
      if (values.length > MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES) problems.add(`${field}.onExitCodes.values`, `has ${values.length} values, must have at most ${MAX_POD_FAILURE_POLICY_ON_EXIT_CODES_VALUES}`);
      if (new Set(values).size !== values.length) problems.add(`${field}.onExitCodes.values`, 'must not contain duplicates');
      if (values.some((v, j) => j > 0 && (values[j - 1] ?? v) > v)) problems.add(`${field}.onExitCodes.values`, 'must be ordered');
      if (onExitCodes.operator === 'In' && values.includes(0)) problems.add(`${field}.onExitCodes.values`, 'must not contain 0 for the In operator');
    }
  });
}

/** The templates a Workflow step or DAG task may call, plus the pod-level rules of each leaf template. */
function validateWorkflow(object: Obj, problems: Problems): void {
  const normalized = structuredClone(object);
  const spec = objAt(object.spec);
  const normalizedSpec = objAt(normalized.spec);
  // ParallelSteps: wrap every bare list as {steps: list} (the package's model), flag anything else.
  const wrapSteps = (template: unknown, field: string): void => {
    const t = objAt(template);
    if (!t) return;
    const groups = t.steps;
    if (Array.isArray(groups)) {
      t.steps = groups.map((group, j) => {
        if (Array.isArray(group)) {
          group.forEach((step, k) => wrapSteps(objAt(step)?.inline, `${field}.steps[${j}][${k}].inline`));
          return { steps: group };
        }
        problems.add(`${field}.steps[${j}]`, 'must be a list of parallel steps (Argo serializes ParallelSteps as a bare list: steps: [[{name, template}]])');
        return group;
      });
    }
    listAt(objAt(t.dag)?.tasks).forEach((task, k) => wrapSteps(objAt(task)?.inline, `${field}.dag.tasks[${k}].inline`));
  };
  listAt(normalizedSpec?.templates).forEach((t, i) => wrapSteps(t, `spec.templates[${i}]`));
  wrapSteps(normalizedSpec?.templateDefaults, 'spec.templateDefaults');

  const unwrapPointer = (pointer: string): string => pointer.replace(/\/steps\/(\d+)\/steps\//g, '/steps/$1/');
  const containerNameNotRequired = (e: SchemaError): boolean =>
    e.keyword === 'required' && e.params.missingProperty === 'name' && /\/(container|script)$/.test(e.instancePath);
  const errors = schemaErrors(new Workflow(normalized as ConstructorParameters<typeof Workflow>[0])).filter((e) => !containerNameNotRequired(e));
  reportSchemaErrors(errors, 'argoproj.io/v1alpha1 Workflow', problems, unwrapPointer);
  checkUnknownFields('Workflow', normalized, 'argoproj.io/v1alpha1 Workflow', problems, (f) => f.replace(/\.steps\[(\d+)\]\.steps\[/g, '.steps[$1]['));

  checkObjectMeta(object, 'subdomain', problems); // custom resources: NameIsDNSSubdomain
  if (!spec) return;
  checkMetaLabels(spec.podMetadata, 'spec.podMetadata', problems);
  checkMetaLabels(spec.workflowMetadata, 'spec.workflowMetadata', problems);
  checkLabelMap(spec.nodeSelector, 'spec.nodeSelector', problems);

  const templates = listAt(spec.templates);
  const templateNames = new Set<string>();
  templates.forEach((t, i) => {
    const name = strAt(objAt(t)?.name);
    const field = `spec.templates[${i}].name`;
    if (name === undefined || name === '') return problems.add(field, 'is required');
    if (name.length > ARGO_FIELD_NAME_MAX_LENGTH) problems.add(field, `${JSON.stringify(name)} must be no more than ${ARGO_FIELD_NAME_MAX_LENGTH} characters`);
    if (!ARGO_FIELD_NAME.test(name)) problems.add(field, `${JSON.stringify(name)} must consist of alphanumeric characters or '-', starting with an alphanumeric character`);
    if (templateNames.has(name)) problems.add(field, `duplicate template name ${JSON.stringify(name)}`);
    templateNames.add(name);
  });
  const usesTemplateRef = spec.workflowTemplateRef !== undefined;
  const checkRef = (ref: unknown, field: string): void => {
    if (typeof ref === 'string' && !templateNames.has(ref)) {
      problems.add(field, `refers to template ${JSON.stringify(ref)}, which is not in spec.templates (${[...templateNames].map((n) => JSON.stringify(n)).join(', ') || 'none'})`);
    }
  };
  if (!usesTemplateRef) {
    if (spec.entrypoint === undefined || spec.entrypoint === '') problems.add('spec.entrypoint', 'is required');
    else checkRef(spec.entrypoint, 'spec.entrypoint');
    checkRef(spec.onExit, 'spec.onExit');
  }
  const checkHooks = (hooks: unknown, field: string): void => {
    for (const [key, hook] of Object.entries(objAt(hooks) ?? {})) checkRef(objAt(hook)?.template, `${join(join(field, 'hooks'), key)}.template`);
  };
  checkHooks(spec.hooks, 'spec');
  checkParallelism(spec.parallelism, 'spec.parallelism', problems);

  const workflowVolumes = checkVolumes(spec.volumes, 'spec.volumes', problems);
  for (const claim of listAt(spec.volumeClaimTemplates)) {
    const claimName = strAt(objAt(objAt(claim)?.metadata)?.name);
    if (claimName) workflowVolumes.add(claimName);
  }

  const checkTemplate = (template: unknown, field: string): void => {
    const t = objAt(template);
    if (!t) return;
    checkParallelism(t.parallelism, `${field}.parallelism`, problems);
    // Argo substitutes {{...}} in a template's metadata before it makes the pod: such a value is checked there.
    const meta = objAt(t.metadata);
    const literalLabels = Object.fromEntries(Object.entries(objAt(meta?.labels) ?? {}).filter(([, value]) => !(typeof value === 'string' && /^\{\{[^{}]+\}\}$/.test(value))));
    checkMetaLabels(meta ? { ...meta, labels: literalLabels } : undefined, `${field}.metadata`, problems);
    checkLabelMap(t.nodeSelector, `${field}.nodeSelector`, problems);
    // A template's pods see the workflow's volumes, its volume claims and the template's own volumes.
    const volumes = new Set([...workflowVolumes, ...checkVolumes(t.volumes, `${field}.volumes`, problems)]);
    const containers: ContainerRef[] = [];
    for (const key of ['container', 'script']) {
      const c = objAt(t[key]);
      if (c) containers.push({ field: `${field}.${key}`, container: c });
    }
    for (const key of ['initContainers', 'sidecars']) {
      listAt(t[key]).forEach((c, i) => {
        const container = objAt(c);
        if (container) containers.push({ field: `${field}.${key}[${i}]`, container });
      });
    }
    listAt(objAt(t.containerSet)?.containers).forEach((c, i) => {
      const container = objAt(c);
      if (container) containers.push({ field: `${field}.containerSet.containers[${i}]`, container });
    });
    for (const c of containers) checkVolumeMounts(c, volumes, problems);

    // validateSteps: step names are unique across all groups of the template.
    const stepNames = new Set<string>();
    listAt(t.steps).forEach((group, j) => {
      if (!Array.isArray(group)) return; // reported by wrapSteps
      group.forEach((s, k) => {
        const step = objAt(s);
        if (!step) return;
        const stepField = `${field}.steps[${j}][${k}]`;
        checkStepLike(step, stepField, stepNames, problems);
        checkRef(step.template, `${stepField}.template`);
        checkRef(step.onExit, `${stepField}.onExit`);
        checkHooks(step.hooks, stepField);
        checkTemplate(step.inline, `${stepField}.inline`);
      });
    });
    const dag = objAt(t.dag);
    if (dag) {
      const tasks = listAt(dag.tasks).map(objAt);
      const taskNames = new Set<string>();
      tasks.forEach((task, k) => {
        if (!task) return;
        const taskField = `${field}.dag.tasks[${k}]`;
        checkStepLike(task, taskField, taskNames, problems);
        checkRef(task.template, `${taskField}.template`);
        checkRef(task.onExit, `${taskField}.onExit`);
        checkHooks(task.hooks, taskField);
        checkTemplate(task.inline, `${taskField}.inline`);
      });
      for (const target of (strAt(dag.target) ?? '').split(' ').filter(Boolean)) {
        if (!taskNames.has(target)) problems.add(`${field}.dag.target`, `refers to task ${JSON.stringify(target)}, which is not in this DAG`);
      }
      tasks.forEach((task, k) => {
        listAt(task?.dependencies).forEach((dep, d) => {
          if (typeof dep === 'string' && !taskNames.has(dep)) problems.add(`${field}.dag.tasks[${k}].dependencies[${d}]`, `refers to task ${JSON.stringify(dep)}, which is not in this DAG`);
        });
      });
    }
  };
  templates.forEach((t, i) => checkTemplate(t, `spec.templates[${i}]`));
  checkTemplate(spec.templateDefaults, 'spec.templateDefaults');
}

/** A step or DAG task: a valid, unique name and exactly one of template, templateRef, inline. */
function checkStepLike(step: Obj, field: string, names: Set<string>, problems: Problems): void {
  const name = strAt(step.name);
  if (name === undefined || name === '') problems.add(`${field}.name`, 'is required');
  else {
    if (name.length > ARGO_FIELD_NAME_MAX_LENGTH || !ARGO_FIELD_NAME.test(name)) {
      problems.add(`${field}.name`, `${JSON.stringify(name)} must be at most ${ARGO_FIELD_NAME_MAX_LENGTH} alphanumeric characters or '-', starting with an alphanumeric character`);
    }
    if (names.has(name)) problems.add(`${field}.name`, `duplicate name ${JSON.stringify(name)}`);
    names.add(name);
  }
  const callers = ['template', 'templateRef', 'inline'].filter((k) => step[k] !== undefined);
  if (callers.length !== 1) problems.add(field, `must set exactly one of template, templateRef, inline (has ${callers.join(', ') || 'none'})`);
}

/** Argo refuses a parallelism below 1 (the Workflow CRD and the controller's validation). */
function checkParallelism(value: unknown, field: string, problems: Problems): void {
  if (typeof value === 'number' && value < 1) problems.add(field, `must be at least 1 (is ${value})`);
}

// ---------------------------------------------------------------------------------------------------------------

/** ValidateNetworkPolicy: the schema, a DNS-subdomain name, and the pod selector's labels. */
function validateNetworkPolicy(object: Obj, problems: Problems): void {
  reportSchemaErrors(schemaErrors(new NetworkPolicy(object as ConstructorParameters<typeof NetworkPolicy>[0])), 'networking.k8s.io/v1 NetworkPolicy', problems);
  checkUnknownFields('NetworkPolicy', object, 'networking.k8s.io/v1 NetworkPolicy', problems);
  checkObjectMeta(object, 'subdomain', problems);
  checkLabelMap(objAt(objAt(object.spec)?.podSelector)?.matchLabels, 'spec.podSelector.matchLabels', problems);
}

const VALIDATORS: Record<string, (object: Obj, problems: Problems) => void> = {
  'v1/ConfigMap': validateConfigMap,
  'networking.k8s.io/v1/NetworkPolicy': validateNetworkPolicy,
  'batch/v1/Job': validateJob,
  'argoproj.io/v1alpha1/Workflow': validateWorkflow,
};

/**
 * Validates generated objects offline. Returns human-readable problems, each naming the object
 * (`Kind/name (objects[i])`) and the field; an empty list means every object passed.
 */
export function validateKubernetesObjects(objects: readonly unknown[]): string[] {
  const all: string[] = [];
  const seen = new Map<string, number>();
  objects.forEach((object, index) => {
    if (!isObj(object)) {
      all.push(`objects[${index}]: not an object`);
      return;
    }
    const apiVersion = strAt(object.apiVersion) ?? '<no apiVersion>';
    const kind = strAt(object.kind) ?? '<no kind>';
    const meta = objAt(object.metadata);
    const name = strAt(meta?.name) || (strAt(meta?.generateName) ? `${strAt(meta?.generateName)}*` : '<unnamed>');
    const problems = new Problems(`${kind}/${name} (objects[${index}])`);
    const validator = VALIDATORS[`${apiVersion}/${kind}`];
    if (!validator) {
      problems.add('apiVersion', `unsupported apiVersion/kind ${JSON.stringify(`${apiVersion}/${kind}`)} (expected one of ${Object.keys(VALIDATORS).join(', ')})`);
    } else {
      validator(object, problems);
      checkSerializedSize(object, problems);
      if (strAt(meta?.name)) {
        const key = `${apiVersion}/${kind}/${strAt(meta?.namespace) ?? ''}/${strAt(meta?.name)}`;
        const first = seen.get(key);
        if (first !== undefined) problems.add('metadata.name', `duplicate of objects[${first}] (same apiVersion, kind, namespace and name)`);
        else seen.set(key, index);
      }
    }
    all.push(...problems.list);
  });
  return all;
}
