// Checks Kubernetes objects without a cluster (issue 14 item 3): each against its schema
// (kubernetes-models, @kubernetes-models/keda: the OpenAPI schemas of Kubernetes and of KEDA's CRDs,
// compiled), then a strict pass the schemas leave out: unknown fields (walked along
// @kubernetes/client-node's model of every API type, as `kubectl --validate=strict` refuses them),
// DNS-1123 names, label syntax, and references inside the set: selectors that match the pods'
// labels, Services that select a Deployment's pods, RoleBindings and ServiceAccounts that exist,
// ScaledObjects that target a Deployment. This is not a cluster test: an API server's admission,
// defaulting and controllers are not run.
import * as k8s from '@kubernetes/client-node';
import * as apps from 'kubernetes-models/apps/v1';
import * as core from 'kubernetes-models/v1';
import * as rbac from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as keda from '@kubernetes-models/keda/keda.sh/v1alpha1';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are arbitrary YAML; every access below is checked
export type Manifest = Record<string, any>;

type Model = new (data: Manifest) => { validate(): void };
const MODELS: Record<string, Model> = {
  'apps/v1/Deployment': apps.Deployment as unknown as Model,
  'v1/Service': core.Service as unknown as Model,
  'v1/ServiceAccount': core.ServiceAccount as unknown as Model,
  'v1/Namespace': core.Namespace as unknown as Model,
  'v1/ConfigMap': core.ConfigMap as unknown as Model,
  'v1/Secret': core.Secret as unknown as Model,
  'rbac.authorization.k8s.io/v1/Role': rbac.Role as unknown as Model,
  'rbac.authorization.k8s.io/v1/RoleBinding': rbac.RoleBinding as unknown as Model,
  'keda.sh/v1alpha1/ScaledObject': keda.ScaledObject as unknown as Model,
};

/** The schema's verdict: problems as `kind/name: message`. */
export function schemaProblems(obj: Manifest): string[] {
  const id = `${obj.kind}/${obj.metadata?.name}`;
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) return [`${id}: no schema known for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (e) {
    return [`${id}: ${(e as Error).message}`];
  }
}

// --- the strict pass ---------------------------------------------------------------------------

type AttributeMap = { name: string; baseName: string; type: string }[];
const API = k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap } | undefined>;

/**
 * The fields a ScaledObject's spec may have, as KEDA v2's CRD (keda.sh_scaledobjects.yaml) defines
 * them; where a field is an HPA type, client-node's model takes over. Leaves are `*` (any value).
 */
const SCALED_OBJECT_SPEC: FieldTree = {
  scaleTargetRef: { apiVersion: '*', kind: '*', name: '*', envSourceContainerName: '*' },
  pollingInterval: '*',
  cooldownPeriod: '*',
  initialCooldownPeriod: '*',
  idleReplicaCount: '*',
  minReplicaCount: '*',
  maxReplicaCount: '*',
  fallback: { failureThreshold: '*', replicas: '*', behavior: '*' },
  advanced: {
    restoreToOriginalReplicaCount: '*',
    horizontalPodAutoscalerConfig: { name: '*', behavior: 'V2HorizontalPodAutoscalerBehavior' },
    scalingModifiers: { formula: '*', target: '*', activationTarget: '*', metricType: '*' },
  },
  triggers: [{ type: '*', name: '*', metadata: '*', metricType: '*', useCachedMetrics: '*', authenticationRef: { name: '*', kind: '*' } }],
};
type FieldTree = '*' | string | { [field: string]: FieldTree } | [FieldTree];

function walkTree(value: unknown, tree: FieldTree, path: string, out: string[]): void {
  if (tree === '*' || value === null || value === undefined) return;
  if (typeof tree === 'string') return walkType(value, tree, path, out);
  if (Array.isArray(tree)) {
    if (Array.isArray(value)) value.forEach((v, i) => walkTree(v, tree[0], `${path}[${i}]`, out));
    return;
  }
  if (typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value as object)) {
    if (!(k in tree)) out.push(`${path}.${k}: unknown field`);
    else walkTree(v, tree[k]!, `${path}.${k}`, out);
  }
}

/** Walks `value` along client-node's model of `type` (V1DeploymentSpec, Array<V1Container>, ...). */
function walkType(value: unknown, type: string, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) value.forEach((v, i) => walkType(v, array[1]!, `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value === 'object') for (const [k, v] of Object.entries(value as object)) walkType(v, map[1]!, `${path}.${k}`, out);
    return;
  }
  const attrs = API[type]?.getAttributeTypeMap?.();
  // Primitives, IntOrString, Date, any: the schema pass has checked their type.
  if (!attrs || typeof value !== 'object' || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value as object)) {
    const attr = attrs.find((a) => a.baseName === k);
    if (!attr) out.push(`${path}.${k}: unknown field`);
    else walkType(v, attr.type, `${path}.${k}`, out);
  }
}

const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^((?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const PORT_NAME = /^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function labelProblems(labels: Record<string, unknown> | undefined, path: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(labels ?? {})) {
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
    const name = slash >= 0 ? k.slice(slash + 1) : k;
    if ((prefix !== undefined && !DNS_SUBDOMAIN.test(prefix)) || !LABEL_NAME.test(name)) out.push(`${path}: label key ${k} is not valid`);
    if (typeof v !== 'string' || !LABEL_VALUE.test(v)) out.push(`${path}: label ${k}=${String(v)} is not a valid value`);
  }
  return out;
}

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/**
 * Unknown fields, names, labels, and references within the set. `externalDeployments` names
 * Deployments made elsewhere (by the runtime); `partial`: server-side apply configurations that
 * carry only some fields (a ScaledObject's bounds), checked for unknown fields and names alone.
 */
export function strictProblems(objs: Manifest[], opts: { externalDeployments?: (name: string) => boolean; partial?: boolean } = {}): string[] {
  const out: string[] = [];
  const deployments = objs.filter((o) => o.kind === 'Deployment');
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata?.name}`;
    const [group, version] = String(o.apiVersion).includes('/') ? String(o.apiVersion).split('/') : ['', String(o.apiVersion)];
    if (o.kind === 'ScaledObject') {
      walkType(o.metadata, 'V1ObjectMeta', `${id} .metadata`, out);
      walkTree(o.spec, SCALED_OBJECT_SPEC, `${id} .spec`, out);
      for (const k of Object.keys(o)) if (!['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k)) out.push(`${id} .${k}: unknown field`);
    } else {
      const type = `${version!.charAt(0).toUpperCase()}${version!.slice(1)}${o.kind}`;
      if (!API[type]?.getAttributeTypeMap) out.push(`${id}: no model of ${group}/${version} ${o.kind} to check fields against`);
      else walkType(o, type, id, out);
    }
    const name = o.metadata?.name;
    // Namespaces, Services and Deployments (their pods' names) need DNS-1123 labels; the rest a subdomain.
    const nameRule = ['Namespace', 'Service', 'Deployment'].includes(o.kind) ? DNS_LABEL : DNS_SUBDOMAIN;
    if (typeof name !== 'string' || !nameRule.test(name)) out.push(`${id}: metadata.name is not a DNS-1123 ${nameRule === DNS_LABEL ? 'label' : 'subdomain'}`);
    if (o.metadata?.namespace !== undefined && !DNS_LABEL.test(o.metadata.namespace)) out.push(`${id}: metadata.namespace is not a DNS-1123 label`);
    out.push(...labelProblems(o.metadata?.labels, `${id} metadata.labels`));
    if (o.kind === 'Deployment') {
      const tpl = o.spec?.template;
      out.push(...labelProblems(tpl?.metadata?.labels, `${id} template labels`));
      const sel = o.spec?.selector?.matchLabels ?? {};
      if (!matches(sel, tpl?.metadata?.labels)) out.push(`${id}: spec.selector.matchLabels does not match the pod template's labels`);
      for (const c of [...(tpl?.spec?.containers ?? []), ...(tpl?.spec?.initContainers ?? [])]) {
        if (!DNS_LABEL.test(c.name ?? '')) out.push(`${id}: container name ${c.name} is not a DNS-1123 label`);
        for (const p of c.ports ?? []) if (p.name !== undefined && !PORT_NAME.test(p.name)) out.push(`${id}: port name ${p.name} is not an IANA service name`);
        for (const m of c.volumeMounts ?? []) if (!(tpl.spec.volumes ?? []).some((v: Manifest) => v.name === m.name)) out.push(`${id}: volumeMount ${m.name} names no volume`);
      }
      for (const v of tpl?.spec?.volumes ?? []) if (!DNS_LABEL.test(v.name ?? '')) out.push(`${id}: volume name ${v.name} is not a DNS-1123 label`);
      const sa = tpl?.spec?.serviceAccountName;
      if (sa && !objs.some((x) => x.kind === 'ServiceAccount' && x.metadata?.name === sa)) out.push(`${id}: serviceAccountName ${sa} is not in the set`);
    }
    if (o.kind === 'Service') {
      const sel = o.spec?.selector ?? {};
      const target = deployments.find((d) => matches(sel, d.spec?.template?.metadata?.labels));
      if (!target) out.push(`${id}: spec.selector matches the pods of no Deployment`);
      for (const p of o.spec?.ports ?? []) {
        if (p.name !== undefined && !PORT_NAME.test(p.name)) out.push(`${id}: port name ${p.name} is not an IANA service name`);
        const named = typeof p.targetPort === 'string' ? p.targetPort : undefined;
        const ports = (target?.spec?.template?.spec?.containers ?? []).flatMap((c: Manifest) => c.ports ?? []);
        if (named && target && !ports.some((cp: Manifest) => cp.name === named)) out.push(`${id}: targetPort ${named} is no container port of ${target.metadata.name}`);
      }
    }
    if (o.kind === 'RoleBinding') {
      if (!objs.some((x) => x.kind === o.roleRef?.kind && x.metadata?.name === o.roleRef?.name)) out.push(`${id}: roleRef ${o.roleRef?.kind}/${o.roleRef?.name} is not in the set`);
      for (const s of o.subjects ?? []) if (s.kind === 'ServiceAccount' && !objs.some((x) => x.kind === 'ServiceAccount' && x.metadata?.name === s.name)) out.push(`${id}: subject ServiceAccount/${s.name} is not in the set`);
    }
    if (o.kind === 'ScaledObject' && !opts.partial) {
      const ref = o.spec?.scaleTargetRef ?? {};
      const kind = ref.kind ?? 'Deployment';
      const known = deployments.some((d) => d.metadata?.name === ref.name) || opts.externalDeployments?.(ref.name);
      if (kind !== 'Deployment' || !known) out.push(`${id}: scaleTargetRef ${kind}/${ref.name} is no Deployment of the set`);
      if (!(o.spec?.triggers ?? []).length) out.push(`${id}: no trigger`);
    }
  }
  return out;
}
