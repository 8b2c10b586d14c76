/** metav1.Status, the body of every error the real API server returns, and an error that carries one. */

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string };
  code: number;
}

export class ApiError extends Error {
  constructor(readonly status: Status) {
    super(status.message);
  }
}

function failure(code: number, reason: string, message: string, details?: Status['details']): ApiError {
  return new ApiError({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    details,
    code,
  });
}

/** `resource` is the plural with its group, as the real messages print it: secrets, deployments.apps. */
export const notFound = (resource: string, name: string): ApiError =>
  failure(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });
export const alreadyExists = (resource: string, name: string): ApiError =>
  failure(409, 'AlreadyExists', `${resource} "${name}" already exists`, { name, kind: resource });
export const conflict = (resource: string, name: string): ApiError =>
  failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, kind: resource },
  );
export const badRequest = (message: string): ApiError => failure(400, 'BadRequest', message);
export const invalid = (resource: string, name: string, message: string): ApiError =>
  failure(422, 'Invalid', `${resource} "${name}" is invalid: ${message}`, { name, kind: resource });
export const unsupportedMediaType = (type: string): ApiError =>
  failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${type})`,
  );
export const methodNotAllowed = (method: string, path: string): ApiError =>
  failure(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${method} ${path})`,
  );
export const unauthorized = (): ApiError => failure(401, 'Unauthorized', 'Unauthorized');
export const pathNotFound = (path: string): ApiError =>
  failure(404, 'NotFound', `the server could not find the requested resource (${path})`);
