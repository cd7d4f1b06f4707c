#!/usr/bin/python3
"""Generate kube/openapi_schemas.c: the OpenAPI schema table of the built-in
kinds that kube/openapi.c serves.

Reads kube-apiserver v1.26's own OpenAPI v3 documents (tests/golden/02-openapi,
api/v1 and apis/apps/v1), keeps the schemas reachable from the built-in kinds
Flotilla serves with their field descriptions (what `kubectl explain` prints),
and adds compact hand-written schemas for the groups the golden set has no
document for (batch, admissionregistration, apiextensions, coordination,
events). Writes C to stdout; `./dev regen` runs it.

usage: gen_openapi_schemas.py tests/golden > kube/openapi_schemas.c
"""
import json
import sys

G = sys.argv[1] + '/02-openapi/'
S = {}
for f in ['openapi-v3-api-v1.json', 'openapi-v3-apis-apps-v1.json']:
    S.update(json.load(open(G + f))['components']['schemas'])

CORE = 'io.k8s.api.core.v1.'
APPS = 'io.k8s.api.apps.v1.'
META = 'io.k8s.apimachinery.pkg.apis.meta.v1.'
ROOTS = [CORE + k for k in ['Pod', 'PodList', 'Namespace', 'NamespaceList', 'Node', 'NodeList',
                            'Service', 'ServiceList', 'ConfigMap', 'ConfigMapList', 'Secret',
                            'SecretList', 'Event', 'EventList', 'ResourceQuota',
                            'ResourceQuotaList', 'ServiceAccount', 'ServiceAccountList',
                            'Endpoints', 'EndpointsList', 'PersistentVolumeClaim',
                            'PersistentVolumeClaimList', 'Binding']]
ROOTS += [APPS + k for k in ['Deployment', 'DeploymentList', 'ReplicaSet', 'ReplicaSetList',
                             'StatefulSet', 'StatefulSetList', 'DaemonSet', 'DaemonSetList',
                             'ControllerRevision', 'ControllerRevisionList']]
ROOTS += ['io.k8s.api.autoscaling.v1.Scale', 'io.k8s.api.policy.v1.Eviction',
          META + 'Status', META + 'Patch', META + 'DeleteOptions', META + 'APIResourceList',
          META + 'WatchEvent']


seen = set()


def walk(x):
    if isinstance(x, dict):
        for k, v in x.items():
            if k == '$ref':
                n = v.split('/')[-1]
                if n not in seen and n in S:
                    seen.add(n)
                    walk(S[n])
            else:
                walk(v)
    elif isinstance(x, list):
        for v in x:
            walk(v)


for r in ROOTS:
    if r in S:
        seen.add(r)
        walk(S[r])
    else:
        sys.exit('missing ' + r)

out = {}
for k in sorted(seen):
    out[k] = S[k]


def ref(n):
    return {'allOf': [{'$ref': '#/components/schemas/' + n}]}


def kind(group, version, k, desc, props, extra=None):
    s = {'description': desc, 'type': 'object',
         'properties': dict({'apiVersion': {'type': 'string'}, 'kind': {'type': 'string'},
                             'metadata': dict(ref(META + 'ObjectMeta'), default={})}, **props),
         'x-kubernetes-group-version-kind': [{'group': group, 'kind': k, 'version': version}]}
    if extra:
        s.update(extra)
    return s


BATCH = 'io.k8s.api.batch.v1.'
out[BATCH + 'JobSpec'] = {'type': 'object', 'required': ['template'], 'properties': {
    'template': dict(ref(CORE + 'PodTemplateSpec'), default={}),
    'selector': ref(META + 'LabelSelector'),
    'parallelism': {'type': 'integer', 'format': 'int32'},
    'completions': {'type': 'integer', 'format': 'int32'},
    'backoffLimit': {'type': 'integer', 'format': 'int32'},
    'activeDeadlineSeconds': {'type': 'integer', 'format': 'int64'},
    'ttlSecondsAfterFinished': {'type': 'integer', 'format': 'int32'},
    'completionMode': {'type': 'string'}, 'suspend': {'type': 'boolean'},
    'manualSelector': {'type': 'boolean'}}}
out[BATCH + 'JobStatus'] = {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}
out[BATCH + 'Job'] = kind('batch', 'v1', 'Job',
                          'Job represents the configuration of a single job.',
                          {'spec': dict(ref(BATCH + 'JobSpec'), default={}),
                           'status': dict(ref(BATCH + 'JobStatus'), default={})})
out[BATCH + 'JobTemplateSpec'] = {'type': 'object', 'properties': {
    'metadata': dict(ref(META + 'ObjectMeta'), default={}),
    'spec': dict(ref(BATCH + 'JobSpec'), default={})}}
out[BATCH + 'CronJobSpec'] = {'type': 'object', 'required': ['schedule', 'jobTemplate'],
                              'properties': {
    'schedule': {'type': 'string'}, 'timeZone': {'type': 'string'},
    'startingDeadlineSeconds': {'type': 'integer', 'format': 'int64'},
    'concurrencyPolicy': {'type': 'string'}, 'suspend': {'type': 'boolean'},
    'jobTemplate': dict(ref(BATCH + 'JobTemplateSpec'), default={}),
    'successfulJobsHistoryLimit': {'type': 'integer', 'format': 'int32'},
    'failedJobsHistoryLimit': {'type': 'integer', 'format': 'int32'}}}
out[BATCH + 'CronJob'] = kind('batch', 'v1', 'CronJob',
                              'CronJob represents the configuration of a single cron job.',
                              {'spec': dict(ref(BATCH + 'CronJobSpec'), default={}),
                               'status': {'type': 'object',
                                          'x-kubernetes-preserve-unknown-fields': True}})

ADM = 'io.k8s.api.admissionregistration.v1.'
for k, hook in [('ValidatingWebhookConfiguration', 'ValidatingWebhook'),
                ('MutatingWebhookConfiguration', 'MutatingWebhook')]:
    out[ADM + hook] = {'type': 'object', 'required': ['name', 'clientConfig'],
                       'properties': {
        'name': {'type': 'string'},
        'clientConfig': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True},
        'rules': {'type': 'array', 'items': {'type': 'object',
                                             'x-kubernetes-preserve-unknown-fields': True}},
        'failurePolicy': {'type': 'string'}, 'matchPolicy': {'type': 'string'},
        'namespaceSelector': ref(META + 'LabelSelector'),
        'objectSelector': ref(META + 'LabelSelector'),
        'sideEffects': {'type': 'string'}, 'timeoutSeconds': {'type': 'integer'},
        'admissionReviewVersions': {'type': 'array', 'items': {'type': 'string'}}},
        'x-kubernetes-preserve-unknown-fields': True}
    out[ADM + k] = kind('admissionregistration.k8s.io', 'v1', k, k + ' describes the '
                        'configuration of an admission webhook.',
                        {'webhooks': {'type': 'array', 'items': ref(ADM + hook),
                                      'x-kubernetes-patch-merge-key': 'name',
                                      'x-kubernetes-patch-strategy': 'merge'}})

EXT = 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.'
out[EXT + 'CustomResourceDefinition'] = kind(
    'apiextensions.k8s.io', 'v1', 'CustomResourceDefinition',
    'CustomResourceDefinition represents a resource that should be exposed on the API server.',
    {'spec': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True},
     'status': {'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}})

COORD = 'io.k8s.api.coordination.v1.'
out[COORD + 'Lease'] = kind('coordination.k8s.io', 'v1', 'Lease',
                            'Lease defines a lease concept.',
                            {'spec': {'type': 'object', 'properties': {
                                'holderIdentity': {'type': 'string'},
                                'leaseDurationSeconds': {'type': 'integer', 'format': 'int32'},
                                'acquireTime': {'type': 'string', 'format': 'date-time'},
                                'renewTime': {'type': 'string', 'format': 'date-time'},
                                'leaseTransitions': {'type': 'integer', 'format': 'int32'}}}})

EV = 'io.k8s.api.events.v1.'
out[EV + 'Event'] = kind('events.k8s.io', 'v1', 'Event',
                         'Event is a report of an event somewhere in the cluster.',
                         {}, {'x-kubernetes-preserve-unknown-fields': True})

text = json.dumps(out, separators=(',', ':'), sort_keys=True)
print('/*')
print(' * kube/openapi_schemas.c: GENERATED by tools/gen_openapi_schemas.py from')
print(' * tests/golden/02-openapi (kube-apiserver v1.26) plus hand-written schemas.')
print(' * Do not edit; run ./dev regen. The schemas of the built-in kinds as one')
print(' * JSON object (name -> schema), descriptions included.')
print(' */')
print('#include "kube/openapi_schemas.h"')
print('')
print('const char fl_kube_openapi_schemas[] =')
# chunks whose escaped form stays within the 100-column limit (clang-format
# leaves them alone); never split an escape sequence
line = ''
for ch in text:
    esc = {'\\': '\\\\', '"': '\\"'}.get(ch, ch)
    if len(line) + len(esc) > 92:
        print('    "%s"' % line)
        line = ''
    line += esc
print('    "%s";' % line)
