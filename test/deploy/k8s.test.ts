import path from 'node:path';
import ts from 'typescript';
import { ENV, loadConfig } from '@relay/gateway';
import {
  ROOT,
  bytesOf,
  composeRuleGroups,
  k8sObject,
  k8sObjects,
  k8sRuleGroups,
  kustomizeResources,
  parseDockerfile,
  parsePromQL,
  read,
  selects,
  yamlDocument,
  yamlDocuments,
  type K8sObject,
} from './artefacts';

/** Where kubernetes-models keeps the model (class, schema, TypeScript interface) of a kind. */
function modelModule(object: { apiVersion: string; kind: string }): string {
  if (object.apiVersion.startsWith('monitoring.coreos.com/')) {
    return `@kubernetes-models/prometheus-operator/${object.apiVersion}/${object.kind}`;
  }
  return `kubernetes-models/${object.apiVersion}/${object.kind}`;
}

/** Validates against the object's OpenAPI schema (types, required fields, formats, enums). */
function schemaErrors(object: K8sObject): string | undefined {
  const module = require(modelModule(object)) as Record<string, new (data: unknown) => { validate(): void }>; // eslint-disable-line @typescript-eslint/no-require-imports
  const Model = module[object.kind];
  if (!Model) throw new Error(`no model for ${object.apiVersion} ${object.kind}`);
  try {
    new Model(object).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The schemas above accept unknown fields, so a misspelt `readinesProbe` would pass them. This
 * type-checks each object as an object literal of its kind's TypeScript interface, where any
 * field the API does not know is an error. Returns the errors per object index.
 */
function unknownFieldErrors(objects: K8sObject[]): Map<number, string[]> {
  const file = path.join(ROOT, 'test/deploy/__k8s_objects__.ts');
  const lines = [
    ...objects.map((o, i) => `import type { I${o.kind} as T${i} } from '${modelModule(o)}';`),
    ...objects.map((o, i) => `export const o${i}: T${i} = ${JSON.stringify(o)};`),
  ];
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const source = lines.join('\n');
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    path.resolve(name) === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const out = new Map<number, string[]>();
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const line = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
    const index = line - objects.length;
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    out.set(index, [...(out.get(index) ?? []), message]);
  }
  return out;
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('Kubernetes manifests', () => {
  const objects = k8sObjects();
  const deployment = k8sObject('Deployment', 'relay');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c: { name: string }) => c.name === 'relay');
  const service = k8sObject('Service', 'relay');
  const redisSet = k8sObject('StatefulSet', 'relay-redis');
  const redisService = k8sObject('Service', 'relay-redis');
  const secret = k8sObject('Secret', 'relay-secrets');
  const relayPodLabels = deployment.spec.template.metadata.labels;
  const redisPodLabels = redisSet.spec.template.metadata.labels;
  const port = Number(ENV.PORT.default);

  test('every kind issue 5 asks for is there', () => {
    const kinds = objects.map((o) => `${o.apiVersion} ${o.kind}`);
    for (const kind of [
      'apps/v1 Deployment',
      'v1 Service',
      'autoscaling/v2 HorizontalPodAutoscaler',
      'policy/v1 PodDisruptionBudget',
      'v1 Secret',
      'monitoring.coreos.com/v1 ServiceMonitor',
      'monitoring.coreos.com/v1 PrometheusRule',
      'networking.k8s.io/v1 NetworkPolicy',
      'apps/v1 StatefulSet',
    ]) {
      expect(kinds).toContain(kind);
    }
    // the ConfigMap comes from the generator (its name gets a content hash)
    const kustomization = yamlDocument('k8s/kustomization.yaml');
    expect(kustomization.configMapGenerator.map((g: { name: string }) => g.name)).toContain('relay-registry');
  });

  describe('schemas', () => {
    test.each(objects.map((o) => [`${o.kind} ${o.metadata.name}`, o] as const))('%s validates against its schema', (_name, object) => {
      expect(schemaErrors(object)).toBeUndefined();
    });

    test('every object, and no field its API does not know (typo control included)', () => {
      const typo = clone(deployment);
      typo.spec.template.spec.containers[0].readinesProbe = typo.spec.template.spec.containers[0].readinessProbe;
      const errors = unknownFieldErrors([...objects, typo]);
      const control = errors.get(objects.length) ?? [];
      errors.delete(objects.length);
      expect(Object.fromEntries(errors)).toEqual({});
      expect(control.join('\n')).toMatch(/readinesProbe/);
    });

    test('the schema check has teeth: a port as a string fails it', () => {
      const bad = clone(deployment);
      bad.spec.template.spec.containers[0].ports[0].containerPort = '8080';
      expect(schemaErrors(bad)).toMatch(/containerPort/);
    });
  });

  describe('kustomize', () => {
    const kustomization = yamlDocument('k8s/kustomization.yaml');

    test('namespaces come from kustomization.yaml alone', () => {
      for (const object of objects) expect([object.kind, object.metadata.namespace]).toEqual([object.kind, undefined]);
      expect(k8sObject('Namespace', kustomization.namespace).kind).toBe('Namespace');
    });

    test("the image kustomize sets is the Deployment's", () => {
      expect(kustomization.images.map((i: { name: string }) => i.name)).toContain(container.image);
    });

    test('each resource file holds objects', () => {
      for (const { file, objects: held } of kustomizeResources()) expect([file, held.length > 0]).toEqual([file, true]);
    });
  });

  describe('the Relay Deployment matches the gateway', () => {
    test('3 replicas, and the HPA starts there and targets this Deployment', () => {
      const hpa = k8sObject('HorizontalPodAutoscaler', 'relay');
      expect(deployment.spec.replicas).toBe(3);
      expect(hpa.spec.minReplicas).toBe(deployment.spec.replicas);
      expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
      expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'relay' });
    });

    test('the container port is the gateway PORT, and the Service sends traffic to it', () => {
      expect(container.ports).toEqual([{ name: 'http', containerPort: port, protocol: 'TCP' }]);
      const env = Object.fromEntries(container.env.filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
      expect(Number(env.PORT ?? ENV.PORT.default)).toBe(port);
      expect(service.spec.type).toBe('LoadBalancer');
      expect(service.spec.sessionAffinity ?? 'None').toBe('None');
      for (const servicePort of service.spec.ports) expect([servicePort.name, port]).toContain(servicePort.targetPort);
    });

    test('probes: readiness on /readyz, liveness (and start-up) on /healthz, on the container port', () => {
      expect(container.readinessProbe.httpGet.path).toBe('/readyz');
      expect(container.livenessProbe.httpGet.path).toBe('/healthz');
      if (container.startupProbe) expect(container.startupProbe.httpGet.path).toBe('/healthz');
      for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe].filter(Boolean)) {
        expect(['http', port]).toContain(probe.httpGet.port);
      }
    });

    test('every env name is one the gateway reads, and the values load as its config', () => {
      const names: string[] = container.env.map((e: { name: string }) => e.name);
      for (const name of names) expect(Object.keys(ENV)).toContain(name);
      expect(names).toEqual(expect.arrayContaining(['REDIS_URL', 'RELAY_NODE_ID', 'RELAY_CONFIG']));
      const resolved: Record<string, string> = {};
      for (const entry of container.env) {
        if (entry.value !== undefined) resolved[entry.name] = entry.value;
        else if (entry.valueFrom?.fieldRef) resolved[entry.name] = 'relay-5d9f7c6b8-x2x7q';
        else if (entry.valueFrom?.secretKeyRef) {
          expect(entry.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
          resolved[entry.name] = secret.stringData[entry.valueFrom.secretKeyRef.key];
        }
        expect([entry.name, resolved[entry.name]]).toEqual([entry.name, expect.any(String)]);
      }
      const config = loadConfig(resolved);
      expect(config).toMatchObject({ port, nodeId: 'relay-5d9f7c6b8-x2x7q', registryPath: '/etc/relay/registry.yaml' });
      expect(config.redisUrl).toMatch(/^rediss?:\/\//);
    });

    test('RELAY_CONFIG is the registry file mounted from the generated ConfigMap', () => {
      const kustomization = yamlDocument('k8s/kustomization.yaml');
      const generator = kustomization.configMapGenerator.find((g: { name: string }) => g.name === 'relay-registry');
      const keys: string[] = generator.files.map((f: string) => path.posix.basename(f.replace(/=.*$/, '')));
      const volume = pod.volumes.find((v: { configMap?: { name: string } }) => v.configMap?.name === 'relay-registry');
      const mount = container.volumeMounts.find((m: { name: string }) => m.name === volume.name);
      const relayConfig = container.env.find((e: { name: string }) => e.name === 'RELAY_CONFIG').value;
      expect(mount.readOnly).toBe(true);
      expect(keys.map((k) => path.posix.join(mount.mountPath, k))).toContain(relayConfig);
    });

    test('shutdown: terminationGracePeriodSeconds covers preStop, RELAY_SHUTDOWN_GRACE_MS and a margin', () => {
      // exec form: sleep(1) is in the Debian slim base image
      const command: string[] = container.lifecycle.preStop.exec.command;
      expect(command).toEqual(['sleep', expect.stringMatching(/^\d+$/)]);
      const sleepS = Number(command[1]);
      expect(sleepS).toBeGreaterThanOrEqual(5);
      const graceMs = Number(container.env.find((e: { name: string }) => e.name === 'RELAY_SHUTDOWN_GRACE_MS')?.value ?? ENV.RELAY_SHUTDOWN_GRACE_MS.default);
      const marginS = 5;
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(sleepS + Math.ceil(graceMs / 1000) + marginS);
      // and not so long that a stuck pod holds a rollout for minutes
      expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(sleepS + Math.ceil(graceMs / 1000) + 30);
    });

    test('runs as the image user, not root, with a read-only root filesystem', () => {
      const dockerfile = parseDockerfile(read('deploy/Dockerfile'));
      const final = dockerfile[dockerfile.length - 1];
      const user = final?.instructions.filter((i) => i.keyword === 'USER').pop()?.args ?? '';
      expect(user).toMatch(/^\d+(:\d+)?$/);
      const [uid, gid] = user.split(':').map(Number);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, runAsGroup: gid ?? uid, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(pod.automountServiceAccountToken).toBe(false);
    });

    test('resources: requests, and a memory limit the memory alert follows', () => {
      expect(container.resources.requests).toEqual({ cpu: expect.any(String), memory: expect.any(String) });
      const limit = bytesOf(container.resources.limits.memory);
      expect(limit).toBeGreaterThanOrEqual(bytesOf(container.resources.requests.memory));
      // compose nodes get the same limit, so the one memory alert fits both
      const compose = yamlDocument('docker-compose.yml').services;
      for (const name of ['relay-1', 'relay-2', 'relay-3']) expect([name, bytesOf(compose[name].mem_limit)]).toEqual([name, limit]);
      for (const groups of [composeRuleGroups(), k8sRuleGroups()]) {
        const rule = groups.flatMap((g) => g.rules).find((r) => r.alert === 'RelayMemoryHigh');
        const threshold = Number(/>\s*(\d+)\s*$/.exec(rule?.expr ?? '')?.[1]);
        expect(threshold).toBe(Math.floor(limit * 0.8));
      }
    });

    test('spread across machines', () => {
      const byHost = pod.topologySpreadConstraints.find((c: { topologyKey: string }) => c.topologyKey === 'kubernetes.io/hostname');
      expect(byHost).toMatchObject({ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' });
      for (const constraint of pod.topologySpreadConstraints) expect(selects(constraint.labelSelector.matchLabels, relayPodLabels)).toBe(true);
    });
  });

  describe('selectors and references agree', () => {
    test('Deployment, Service, PDB and NetworkPolicy select the Relay pods and not Redis', () => {
      const selectors = {
        deployment: deployment.spec.selector.matchLabels,
        service: service.spec.selector,
        pdb: k8sObject('PodDisruptionBudget', 'relay').spec.selector.matchLabels,
        networkPolicy: k8sObject('NetworkPolicy', 'relay').spec.podSelector.matchLabels,
      };
      for (const [name, selector] of Object.entries(selectors)) {
        expect([name, selects(selector, relayPodLabels), selects(selector, redisPodLabels)]).toEqual([name, true, false]);
      }
    });

    test('the PDB lets a drain proceed one pod at a time', () => {
      const pdb = k8sObject('PodDisruptionBudget', 'relay').spec;
      const allowed = pdb.maxUnavailable ?? deployment.spec.replicas - pdb.minAvailable;
      expect(allowed).toBe(1);
    });

    test('Redis: Service and StatefulSet agree; the Secret points Relay at it with its password', () => {
      expect(redisSet.spec.serviceName).toBe(redisService.metadata.name);
      expect(selects(redisService.spec.selector, redisPodLabels)).toBe(true);
      expect(selects(redisSet.spec.selector.matchLabels, redisPodLabels)).toBe(true);
      const url = new URL(secret.stringData.REDIS_URL);
      const redisPort = redisService.spec.ports[0];
      expect(url.hostname).toBe(redisService.metadata.name);
      expect(Number(url.port || 6379)).toBe(redisPort.port);
      expect(decodeURIComponent(url.password)).toBe(secret.stringData.REDIS_PASSWORD);
      const redis = redisSet.spec.template.spec.containers[0];
      const containerPort = redis.ports.find((p: { name: string; containerPort: number }) => p.name === redisPort.targetPort || p.containerPort === redisPort.targetPort);
      expect(containerPort.containerPort).toBe(6379);
      for (const e of redis.env) expect(Object.keys(secret.stringData)).toContain(e.valueFrom.secretKeyRef.key);
    });

    test('Redis keeps an append-only file on its volume, fsynced as in compose, never evicting', () => {
      const redis = redisSet.spec.template.spec.containers[0];
      const args: string[] = redis.args;
      const arg = (flag: string) => args[args.indexOf(flag) + 1];
      expect(arg('--appendonly')).toBe('yes');
      expect(['always', 'everysec']).toContain(arg('--appendfsync'));
      expect(arg('--maxmemory-policy')).toBe('noeviction');
      expect(bytesOf(arg('--maxmemory') as string)).toBeLessThan(bytesOf(redis.resources.limits.memory));
      const claim = redisSet.spec.volumeClaimTemplates[0];
      const mount = redis.volumeMounts.find((m: { name: string }) => m.name === claim.metadata.name);
      expect(mount.mountPath).toBe(arg('--dir'));
      expect(claim.spec.resources.requests.storage).toMatch(/^\d+Gi$/);
      // the same durability as in docker-compose.yml
      const compose = yamlDocument('docker-compose.yml').services.redis.command as string[];
      expect(compose[compose.indexOf('--appendfsync') + 1]).toBe(arg('--appendfsync'));
      // runs as non-root with a read-only root filesystem too
      expect(redisSet.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
      expect(redis.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      // and its file says how to use a managed Redis instead
      expect(read('k8s/redis.yaml')).toMatch(/USING A MANAGED REDIS INSTEAD/);
    });

    test('NetworkPolicy: Relay takes traffic on its port and reaches Redis and webhooks; Redis takes Relay only', () => {
      const relay = k8sObject('NetworkPolicy', 'relay').spec;
      expect(relay.policyTypes).toEqual(['Ingress', 'Egress']);
      const ingressPorts = relay.ingress.flatMap((r: { ports: { port: unknown }[] }) => r.ports.map((p) => p.port));
      expect(ingressPorts.some((p: unknown) => p === 'http' || p === port)).toBe(true);
      const toRedis = relay.egress.find((r: { to: { podSelector?: { matchLabels: Record<string, string> } }[] }) =>
        r.to.some((t) => t.podSelector && selects(t.podSelector.matchLabels, redisPodLabels)),
      );
      expect(toRedis.ports).toEqual([{ port: redisService.spec.ports[0].port, protocol: 'TCP' }]);
      const dns = relay.egress.flatMap((r: { ports: { port: number }[] }) => r.ports.map((p) => p.port));
      expect(dns).toContain(53);
      // webhooks (apps' finals, HTTP agents) leave on the web's ports
      expect(dns).toEqual(expect.arrayContaining([80, 443]));
      const redis = k8sObject('NetworkPolicy', 'relay-redis').spec;
      expect(selects(redis.podSelector.matchLabels, redisPodLabels)).toBe(true);
      expect(redis.ingress).toHaveLength(1);
      expect(redis.ingress[0].from.every((f: { podSelector: { matchLabels: Record<string, string> } }) => selects(f.podSelector.matchLabels, relayPodLabels))).toBe(true);
    });

    test('ServiceMonitor scrapes the Relay Service on the metrics path, as job "relay"', () => {
      const monitor = k8sObject('ServiceMonitor', 'relay').spec;
      expect(selects(monitor.selector.matchLabels, service.metadata.labels)).toBe(true);
      expect(selects(monitor.selector.matchLabels, redisService.metadata.labels)).toBe(false);
      expect(monitor.endpoints).toHaveLength(1);
      expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain(monitor.endpoints[0].port);
      expect(monitor.endpoints[0].path).toBe('/metrics');
      // the job label the alert rules use is the value of the Service label named by jobLabel
      expect(service.metadata.labels?.[monitor.jobLabel]).toBe('relay');
    });
  });

  describe('PrometheusRule', () => {
    test('its "relay" group is deploy/prometheus/alerts.yml verbatim', () => {
      const relay = k8sRuleGroups().filter((g) => g.name !== 'relay-kubernetes');
      expect(relay).toEqual(composeRuleGroups());
    });

    test('the alerts issue 5 asks for are there', () => {
      const names = k8sRuleGroups().flatMap((g) => g.rules.map((r) => r.alert));
      // Redis down, nodes not ready, event expiries, queue depth, drops, p99 latency
      for (const name of ['RelayRedisNotReady', 'RelayStoreUnavailable', 'RelayNodesNotReady', 'RelayEventsExpiring', 'RelayQueueFull', 'RelayTokensDropped', 'RelayFinalsDropped', 'RelayEventLoopLagHigh']) {
        expect(names).toContain(name);
      }
      expect(new Set(names).size).toBe(names.length);
    });

    test('kube-state-metrics series are only in the Kubernetes group, and name objects that exist', () => {
      for (const group of k8sRuleGroups()) {
        for (const rule of group.rules) {
          const query = parsePromQL(rule.expr);
          expect([rule.alert, query.errors]).toEqual([rule.alert, []]);
          for (const selector of query.selectors.filter((s) => s.metric.startsWith('kube_'))) {
            expect([rule.alert, group.name]).toEqual([rule.alert, 'relay-kubernetes']);
            for (const matcher of selector.matchers) {
              const kind = { deployment: 'Deployment', statefulset: 'StatefulSet' }[matcher.label];
              if (kind) expect(k8sObject(kind, matcher.value).metadata.name).toBe(matcher.value);
            }
          }
        }
      }
    });
  });

  test('kubectl would read each file: one object kind per document, nothing else', () => {
    for (const { file, objects: held } of kustomizeResources()) {
      for (const object of held) {
        expect([file, typeof object.apiVersion, typeof object.kind, typeof object.metadata?.name]).toEqual([file, 'string', 'string', 'string']);
      }
      expect(yamlDocuments(file)).toHaveLength(held.length);
    }
  });
});
