#!/usr/bin/python3
"""Generate kube/patch_schema.c: the strategic-merge-patch metadata
(x-kubernetes-patch-strategy / x-kubernetes-patch-merge-key, the OpenAPI
form of the k8s.io/api patchStrategy / patchMergeKey struct tags) of the
built-in kinds, from kube-apiserver v1.26's OpenAPI v3 documents in
tests/golden/02-openapi. batch/v1 and autoscaling/v1 are not in
those recordings; their few relevant fields are declared below by hand
(from k8s.io/api batch/v1 types.go). Only types on a path to a field with
a patch strategy are emitted.

usage: gen_patch_schema.py tests/golden > kube/patch_schema.c
"""
import json, sys, os

golden = sys.argv[1]
defs = {}
for f in ['openapi-v3-api-v1.json', 'openapi-v3-apis-apps-v1.json']:
    d = json.load(open(os.path.join(golden, '02-openapi', f)))
    b = d['response']['body'] if 'response' in d else d
    if isinstance(b, str):
        b = json.loads(b)
    for name, s in b['components']['schemas'].items():
        defs[name.split('.')[-1]] = s

def ref(name):
    return {'allOf': [{'$ref': '#/components/schemas/x.' + name}]}

# batch/v1 and autoscaling/v1 (not in the recorded OpenAPI documents).
defs['JobSpec'] = {'properties': {'template': ref('PodTemplateSpec')}}
defs['JobStatus'] = {'properties': {'conditions': {
    'type': 'array', 'items': ref('JobCondition'),
    'x-kubernetes-patch-strategy': 'merge', 'x-kubernetes-patch-merge-key': 'type'}}}
defs['JobCondition'] = {'properties': {}}
defs['Job'] = {'properties': {'metadata': ref('ObjectMeta'), 'spec': ref('JobSpec'),
                              'status': ref('JobStatus')}}
defs['JobTemplateSpec'] = {'properties': {'metadata': ref('ObjectMeta'), 'spec': ref('JobSpec')}}
defs['CronJobSpec'] = {'properties': {'jobTemplate': ref('JobTemplateSpec')}}
defs['CronJob'] = {'properties': {'metadata': ref('ObjectMeta'), 'spec': ref('CronJobSpec')}}
defs['Scale'] = {'properties': {'metadata': ref('ObjectMeta')}}

# Upstream's own test type (strategicpatch/patch_test.go MergeItem), so that
# its test tables can be run unchanged: group "strategicpatch.test".
def lst(t, strat=None, key=None):
    p = {'type': 'array', 'items': ref(t)} if t else {'type': 'array', 'items': {'type': 'integer'}}
    if strat: p['x-kubernetes-patch-strategy'] = strat
    if key: p['x-kubernetes-patch-merge-key'] = key
    return p
def obj(t, strat=None, key=None):
    p = ref(t)
    if strat: p['x-kubernetes-patch-strategy'] = strat
    if key: p['x-kubernetes-patch-merge-key'] = key
    return p
defs['MergeItem'] = {'properties': {
    'mergingList': lst('MergeItem', 'merge', 'name'), 'nonMergingList': lst('MergeItem'),
    'mergingIntList': lst(None, 'merge'), 'nonMergingIntList': lst(None),
    'mergeItemPtr': obj('MergeItem', 'merge', 'name'), 'replacingItem': obj('RawExtension', 'replace'),
    'retainKeysMap': obj('RetainKeysMergeItem', 'retainKeys'),
    'retainKeysMergingList': lst('MergeItem', 'merge,retainKeys', 'name')}}
defs['RetainKeysMergeItem'] = {'properties': {
    'mergingIntList': lst(None, 'merge'), 'mergingList': lst('MergeItem', 'merge', 'name'),
    'nonMergingList': lst('MergeItem')}}
defs['RawExtension'] = {'properties': {}}

KINDS = [('', 'Pod'), ('', 'PodTemplate'), ('', 'ReplicationController'), ('', 'Service'),
         ('', 'Node'), ('', 'Namespace'), ('', 'ConfigMap'), ('', 'Secret'),
         ('', 'Endpoints'), ('', 'Event'), ('', 'ServiceAccount'),
         ('', 'PersistentVolumeClaim'), ('', 'PersistentVolume'), ('', 'LimitRange'),
         ('', 'ResourceQuota'), ('', 'ComponentStatus'),
         ('apps', 'Deployment'), ('apps', 'ReplicaSet'), ('apps', 'StatefulSet'),
         ('apps', 'DaemonSet'), ('apps', 'ControllerRevision'),
         ('batch', 'Job'), ('batch', 'CronJob'),
         ('autoscaling', 'Scale'), ('apps', 'Scale'),
         ('strategicpatch.test', 'MergeItem')]

def target(p):
    """(child type name, is_list, is_map) of a property."""
    def r(x):
        if '$ref' in x:
            return x['$ref'].split('.')[-1]
        if 'allOf' in x and x['allOf'] and '$ref' in x['allOf'][0]:
            return x['allOf'][0]['$ref'].split('.')[-1]
        return None
    if p.get('type') == 'array' and 'items' in p:
        return r(p['items']), True, False
    if 'additionalProperties' in p and isinstance(p['additionalProperties'], dict):
        return r(p['additionalProperties']), False, True
    return r(p), False, False

memo = {}
def interesting(t, stack=()):
    if t in memo:
        return memo[t]
    if t not in defs or t in stack:
        return False
    res = False
    for pn, p in (defs[t].get('properties') or {}).items():
        if 'x-kubernetes-patch-strategy' in p:
            res = True
        c, _, _ = target(p)
        if c and interesting(c, stack + (t,)):
            res = True
    memo[t] = res
    return res

order = []
def visit(t):
    if t in order or not interesting(t):
        return
    order.append(t)
    for pn, p in sorted((defs[t].get('properties') or {}).items()):
        c, _, _ = target(p)
        if c:
            visit(c)

for g, k in KINDS:
    if k not in defs:
        sys.exit('no definition for ' + k)
    visit(k)

idx = {t: i for i, t in enumerate(order)}
out = []
w = out.append
w('/*')
w(' * kube/patch_schema.c: GENERATED by tools/gen_patch_schema.py from')
w(' * kube-apiserver v1.26 OpenAPI (x-kubernetes-patch-strategy/-merge-key) plus')
w(' * batch/v1 by hand. Do not edit; run ./dev regen. Strategic merge patch')
w(' * metadata of the built-in kinds: only the types on a path to a list (or map)')
w(' * with a patch strategy appear; every other field merges maps and replaces')
w(' * lists, as a field without tags does upstream.')
w(' */')
w('#include "kube/patch_int.h"')
w('')
for t in order:
    fields = []
    for pn, p in sorted((defs[t].get('properties') or {}).items()):
        c, is_list, is_map = target(p)
        strat = p.get('x-kubernetes-patch-strategy', '')
        ci = idx.get(c, -1) if c else -1
        if not strat and ci < 0:
            continue
        flags = []
        if 'merge' in strat.split(','):
            flags.append('SM_MERGE')
        if 'retainKeys' in strat.split(','):
            flags.append('SM_RETAIN_KEYS')
        if 'replace' in strat.split(','):
            flags.append('SM_REPLACE')
        if is_map:
            flags.append('SM_MAP')
        mk = p.get('x-kubernetes-patch-merge-key')
        fields.append('    {"%s", %s, %s, %d},' % (pn, '|'.join(flags) or '0',
                      '"%s"' % mk if mk else 'NULL', ci))
    w('static const sm_field f_%s[] = {' % t)
    out.extend(fields)
    w('};')
w('')
w('const sm_type fl_patch_sm_types[] = {')
for t in order:
    w('    {"%s", f_%s, FL_ARRAY_LEN(f_%s)},' % (t, t, t))
w('};')
w('')
w('const fl_patch_schema fl_patch_sm_kinds[] = {')
for g, k in KINDS:
    w('    {"%s", "%s", %d},' % (g, k, idx.get(k, -1)))
w('};')
w('const size_t fl_patch_sm_nkinds = FL_ARRAY_LEN(fl_patch_sm_kinds);')
print('\n'.join(out))
