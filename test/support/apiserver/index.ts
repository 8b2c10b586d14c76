/**
 * The Kubernetes API stand-in for tests (no kube-apiserver can run here). Product code never
 * imports this.
 *
 *   const api = await FakeApiServer.start();          // HTTPS on 127.0.0.1, own CA, bearer token
 *   api.writeKubeconfig(file, 'default');              // for kubectl --kubeconfig / KubeConfig.loadFromFile
 *   api.create('', 'namespaces', undefined, {...});    // set-up without HTTP
 *   api.addResource({ group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true,
 *                     subresources: [{ name: 'exec', verbs: ['create', 'get'] }] });
 *   api.routes.upgrade('/api/v1/namespaces/:namespace/pods/:name/exec', (req, socket, head, params, query) => ...);
 *   api.routes.add('GET', '/api/v1/namespaces/:namespace/pods/:name/log', (ctx) => ctx.send(200, ...));
 *   api.store.onChange((type, resource, obj) => ...);  // react to writes (e.g. start a pod's process)
 *   api.requests                                       // every request with its status, for assertions
 */
export { FakeApiServer, KUBERNETES_VERSION, type RecordedRequest } from './server';
export { ObjectStore, type KubeObject, type ChangeListener } from './store';
export { RouteRegistry, type Handler, type UpgradeHandler, type RequestContext } from './routes';
export { type ResourceType, BUILTIN_RESOURCES } from './resources';
export * as status from './status';
