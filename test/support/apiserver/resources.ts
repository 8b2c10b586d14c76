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
  },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
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
