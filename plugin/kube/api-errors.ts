/**
 * Failed Kubernetes API calls, told to a person: every call names what it tried (verb, resource,
 * namespace, name) so a refusal can say which permission is missing and a 404 which object is gone.
 */
import { UserError } from '../errors';
import type { KubeTarget } from './kubeconfig';

export interface ApiCall {
  verb: 'get' | 'list' | 'create';
  /** As RBAC names it: pods, pods/exec, deployments.apps. */
  resource: string;
  namespace: string;
  name?: string;
}

/** The HTTP status of a failed client-node call (its ApiException carries `code`), if it got one. */
export function httpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** metav1.Status.message when the server sent one. */
export function serverMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const m = (parsed as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' && m !== '' ? m : undefined;
}

/** A connection-level failure: refused, DNS, TLS, timeout. node-fetch and ws both carry a code. */
function networkCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown }; error?: { code?: unknown } } | null;
  for (const c of [e?.code, e?.cause?.code, e?.error?.code]) if (typeof c === 'string') return c;
  return undefined;
}

export function unreachable(kube: KubeTarget, err: unknown): UserError {
  const code = networkCode(err);
  const tls = code !== undefined && /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code);
  return new UserError(
    `cannot reach the Kubernetes API at ${kube.server} (context "${kube.context}"): ${code ?? (err as Error)?.message ?? String(err)}`,
    tls
      ? "the server's certificate is not trusted by this kubeconfig: check certificate-authority-data for the cluster"
      : `check that the cluster is up and that this is the context you mean (kubectl --context ${kube.context} cluster-info)`,
  );
}

export function forbidden(kube: KubeTarget, call: ApiCall, message?: string): UserError {
  const where = `in namespace ${call.namespace}`;
  return new UserError(
    message ?? `forbidden: you cannot ${call.verb} ${call.resource} ${where}`,
    `RBAC is missing "${call.verb} ${call.resource}" ${where} for your user in context "${kube.context}": ` +
      'ask an admin to bind the iochaos-user ClusterRole there (kubectl auth can-i ' +
      `${call.verb} ${call.resource} -n ${call.namespace} tells you what you have)`,
  );
}

/** Turns any failed API call into a UserError; `notFound` words the 404 for this call's object. */
export function apiError(
  kube: KubeTarget,
  call: ApiCall,
  err: unknown,
  notFound?: () => UserError,
): UserError {
  if (err instanceof UserError) return err;
  const status = httpStatus(err);
  const message = serverMessage((err as { body?: unknown } | null)?.body);
  if (status === undefined) return unreachable(kube, err);
  if (status === 403) return forbidden(kube, call, message);
  if (status === 404 && notFound) return notFound();
  if (status === 401) {
    return new UserError(
      `the Kubernetes API refused your credentials (401 Unauthorized) in context "${kube.context}"`,
      'log in again or refresh the token of this kubeconfig user, then retry',
    );
  }
  return new UserError(
    `${call.verb} ${call.resource}${call.name ? ` ${call.name}` : ''} in namespace ${call.namespace} failed (HTTP ${status})${message ? `: ${message}` : ''}`,
    'retry; if it keeps failing, check the API server (kubectl get --raw /readyz)',
  );
}
