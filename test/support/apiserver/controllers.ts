/**
 * The one controller the pod tests need: a Deployment keeps `spec.replicas` pods of its template
 * (as its ReplicaSet would), created through admission like any client's pods, named
 * `<deployment>-<template hash>-<random>` and labelled with `pod-template-hash`. Scaling down deletes
 * pods; deleting the Deployment deletes its pods (garbage collection); a deleted pod is replaced.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FakeApiServer } from './server';
import { selectorMatches, type LabelSelector } from './selectors';
import type { KubeObject } from './store';

interface Deployment extends KubeObject {
  spec?: {
    replicas?: number;
    selector?: LabelSelector;
    template?: { metadata?: KubeObject['metadata']; spec?: unknown };
  };
}

export function runDeploymentController(api: FakeApiServer, onError: (err: unknown) => void): void {
  const pods = api.resource('', 'pods');
  const deployments = api.resource('apps', 'deployments');
  // One reconcile at a time per Deployment: creates are asynchronous (admission calls webhooks).
  const queue = new Map<string, Promise<void>>();
  const enqueue = (ns: string, name: string) => {
    const key = `${ns}/${name}`;
    const next = (queue.get(key) ?? Promise.resolve()).then(() => reconcile(ns, name)).catch(onError);
    queue.set(key, next);
  };
  const owned = (d: Deployment) =>
    api.store
      .list(pods, d.metadata!.namespace)
      .items.filter((p) =>
        ((p.metadata?.ownerReferences ?? []) as { uid: string }[]).some((o) => o.uid === d.metadata!.uid),
      );

  async function reconcile(ns: string, name: string): Promise<void> {
    if (!api.store.has(deployments, ns, name)) return;
    const d = api.store.get(deployments, ns, name) as Deployment;
    const template = d.spec?.template ?? {};
    const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
    const have = owned(d);
    const want = d.spec?.replicas ?? 1;
    for (const extra of have.slice(want)) api.store.delete(pods, ns, extra.metadata!.name!);
    for (let i = have.length; i < want; i++) {
      const labels = {
        ...((template.metadata?.labels ?? {}) as Record<string, string>),
        'pod-template-hash': hash,
      };
      if (!selectorMatches(d.spec?.selector, labels))
        throw new Error(`deployment ${ns}/${name}: selector does not match template`);
      await api.createAdmitted(pods, ns, {
        metadata: {
          ...structuredClone(template.metadata ?? {}),
          name: `${name}-${hash}-${randomBytes(3).toString('hex').slice(0, 5)}`,
          namespace: ns,
          labels,
          ownerReferences: [
            { apiVersion: 'apps/v1', kind: 'Deployment', name, uid: d.metadata!.uid, controller: true },
          ],
        },
        spec: structuredClone(template.spec ?? {}),
      });
    }
  }

  api.store.onChange((type, t, obj) => {
    const ns = obj.metadata!.namespace!;
    if (t === deployments) {
      if (type === 'DELETED') {
        for (const p of owned(obj as Deployment)) api.store.delete(pods, ns, p.metadata!.name!);
      } else enqueue(ns, obj.metadata!.name!);
    } else if (t === pods && type === 'DELETED') {
      const owner = ((obj.metadata?.ownerReferences ?? []) as { kind: string; name: string }[]).find(
        (o) => o.kind === 'Deployment',
      );
      if (owner) enqueue(ns, owner.name);
    }
  });
}
