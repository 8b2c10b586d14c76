/** The resource types the stand-in serves: what discovery lists and what the generic REST routes store. */

export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  verbs?: string[];
  shortNames?: string[];
  /** Listed in discovery as `<plural>/<sub>`; served by routes someone registers (e.g. pods/exec). */
  subresources?: { name: string; verbs: string[]; kind?: string }[];
  /** What the real registry does to an object on every write (e.g. Secret stringData -> data). */
  normalize?: (obj: Record<string, unknown>) => void;
}

/** The registry's write-time conversion: stringData is merged into data, base64-encoded, and dropped. */
function secretStringData(obj: Record<string, unknown>): void {
  const stringData = obj.stringData as Record<string, string> | undefined;
  if (stringData === undefined) return;
  const data = (obj.data ?? {}) as Record<string, string>;
  for (const [k, v] of Object.entries(stringData)) data[k] = Buffer.from(v).toString('base64');
  obj.data = data;
  delete obj.stringData;
}

export const ALL_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update'];

export const groupVersion = (t: Pick<ResourceType, 'group' | 'version'>): string =>
  t.group === '' ? t.version : `${t.group}/${t.version}`;

/** As the real messages name a resource: `secrets`, `mutatingwebhookconfigurations.admissionregistration.k8s.io`. */
export const qualified = (t: ResourceType): string => (t.group === '' ? t.plural : `${t.plural}.${t.group}`);

export const BUILTIN_RESOURCES: ResourceType[] = [
  {
    group: '',
    version: 'v1',
    kind: 'Namespace',
    plural: 'namespaces',
    namespaced: false,
    shortNames: ['ns'],
    // The API server labels every namespace with its name (namespaceSelectors rely on it).
    normalize: (obj) => {
      const md = obj.metadata as { name: string; labels?: Record<string, string> };
      md.labels = { ...md.labels, 'kubernetes.io/metadata.name': md.name };
    },
  },
  {
    group: '',
    version: 'v1',
    kind: 'Secret',
    plural: 'secrets',
    namespaced: true,
    normalize: secretStringData,
  },
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'] },
  {
    group: '',
    version: 'v1',
    kind: 'ServiceAccount',
    plural: 'serviceaccounts',
    namespaced: true,
    shortNames: ['sa'],
  },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true, shortNames: ['svc'] },
  {
    group: 'admissionregistration.k8s.io',
    version: 'v1',
    kind: 'MutatingWebhookConfiguration',
    plural: 'mutatingwebhookconfigurations',
    namespaced: false,
  },
];
