/**
 * Names that the webhook (which adds the sidecar), the sidecar (which runs the daemon) and the plugin
 * (which finds and execs into it) must agree on. Defined once, here.
 */

/** The annotation a pod (template) sets to "true" to get the ChaosFS sidecar. */
export const INJECT_ANNOTATION = 'iochaos.dev/inject';

/** The sidecar container's name; the plugin execs `chaosfs ctl` in it. */
export const SIDECAR_NAME = 'chaosfs';

/** The daemon's unix control socket (inside the sidecar, or on the host for local targets). */
export const DEFAULT_CONTROL_SOCKET = '/run/iochaos/chaosfs.sock';

/** Where the daemon keeps its journal; the webhook mounts an emptyDir here. */
export const DEFAULT_STATE_DIR = '/var/lib/iochaos';

/** The readiness probe the webhook gives the sidecar: exits 0 once the daemon answers. */
export const HEALTH_COMMAND = ['chaosfs', 'health'];
/** How long the probe waits for the daemon's answer: less than the probe's own timeout (3 s). */
export const HEALTH_TIMEOUT_MS = 2000;

/** Env vars the webhook sets from the downward API, read by the daemon. */
export const POD_NAME_ENV = 'POD_NAME';
export const POD_NAMESPACE_ENV = 'POD_NAMESPACE';

/**
 * The pod label that opts a pod in: the MutatingWebhookConfiguration's objectSelector matches it, so
 * pods without it never reach the webhook. Same key as the annotation (which the webhook also honours
 * on pods that reach it, for configurations without the objectSelector).
 */
export const INJECT_LABEL = INJECT_ANNOTATION;

/** The namespace label that opts a namespace in (the namespaceSelector), as Istio's `istio-injection`. */
export const NAMESPACE_INJECTION_LABEL = 'iochaos.dev/injection';
export const NAMESPACE_INJECTION_ENABLED = 'enabled';

/** Per-pod choice of the sidecar's security profile (see webhook/README.md): "privileged" or "capabilities". */
export const SIDECAR_PROFILE_ANNOTATION = 'iochaos.dev/sidecar-profile';
