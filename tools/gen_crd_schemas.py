#!/usr/bin/python3
"""Rewrite the openAPIV3Schema of a deploy/crds/ file: structural schemas
for the Karmada and Flotilla kinds, with a description on every field, so
`kubectl explain propagationpolicy.spec.placement` has a tree to show.
spec and status keep x-kubernetes-preserve-unknown-fields, so pruning keeps
whatever a user writes beyond the fields declared here (the fields Flotilla
reads and writes, named and shaped as in Karmada's API).

Everything before the file's `openAPIV3Schema:` line is kept as it is; what
follows is written from the tables below. Prints the whole file.

usage: gen_crd_schemas.py deploy/crds/FILE.yaml > deploy/crds/FILE.yaml.new
"""
import json
import sys


def s(desc, t='string', **kw):
    return dict({'description': desc, 'type': t}, **kw)


def i(desc):
    return s(desc, 'integer', format='int32')


def b(desc):
    return s(desc, 'boolean')


def arr(desc, items):
    return {'description': desc, 'type': 'array', 'items': items}


def obj(desc, props, required=None, preserve=False):
    o = {'description': desc, 'type': 'object', 'properties': props}
    if required:
        o['required'] = required
    if preserve:
        o['x-kubernetes-preserve-unknown-fields'] = True
    return o


def free(desc):
    return {'description': desc, 'type': 'object', 'x-kubernetes-preserve-unknown-fields': True}


def strmap(desc):
    return {'description': desc, 'type': 'object', 'additionalProperties': {'type': 'string'}}


def qmap(desc):
    return {'description': desc, 'type': 'object',
            'additionalProperties': {'x-kubernetes-int-or-string': True}}


def strs(desc):
    return arr(desc, {'type': 'string'})


LABEL_SELECTOR = obj(
    'A label query over a set of resources: matchLabels and matchExpressions are ANDed; an '
    'empty selector matches everything.', {
        'matchLabels': strmap('Labels that must all be present with these values.'),
        'matchExpressions': arr('Label requirements, all of which must hold.', obj(
            'A requirement on one label key.', {
                'key': s('The label key.'),
                'operator': s('In, NotIn, Exists or DoesNotExist.'),
                'values': strs('The values for In and NotIn; empty for Exists and '
                               'DoesNotExist.')}, ['key', 'operator']))})

RESOURCE_SELECTORS = arr(
    'The resources (templates) the policy applies to; a resource matches when it matches any '
    'selector.', obj('Selects resources by type and by name, namespace or labels.', {
        'apiVersion': s('API version of the target resources, e.g. apps/v1.'),
        'kind': s('Kind of the target resources, e.g. Deployment.'),
        'namespace': s('Namespace of the target resources; empty selects every namespace the '
                       'policy can see.'),
        'name': s('Name of the target resource; empty selects by labelSelector.'),
        'labelSelector': dict(LABEL_SELECTOR, description='Selects the target resources by '
                              'label; ignored when name is set.')}, ['apiVersion', 'kind']))

CLUSTER_AFFINITY_PROPS = {
    'clusterNames': strs('Member clusters selected by name.'),
    'exclude': strs('Member clusters never selected, whatever the other terms say.'),
    'labelSelector': dict(LABEL_SELECTOR, description='Member clusters selected by their '
                          'labels.'),
    'fieldSelector': obj('Member clusters selected by fields (provider, region, zone).', {
        'matchExpressions': arr('Field requirements, all of which must hold.', obj(
            'A requirement on one field.', {
                'key': s('provider, region or zone.'),
                'operator': s('In or NotIn.'),
                'values': strs('The values.')}, ['key', 'operator']))}),
}


def cluster_affinity(desc):
    return obj(desc, CLUSTER_AFFINITY_PROPS)


PLACEMENT = obj('Where the selected resources go and how their replicas are divided.', {
    'clusterAffinity': cluster_affinity('The member clusters the resources may be scheduled '
                                        'to.'),
    'clusterAffinities': arr('Ordered alternatives to clusterAffinity: the scheduler tries '
                             'them in order until one fits.', obj(
                                 'One named group of member clusters.',
                                 dict({'affinityName': s('The name of this group.')},
                                      **CLUSTER_AFFINITY_PROPS), ['affinityName'])),
    'clusterTolerations': arr('Taints of member clusters this placement tolerates.', obj(
        'Tolerates the taints that match key, value and effect with the operator.', {
            'key': s('The taint key; empty with operator Exists matches every key.'),
            'operator': s('Exists or Equal (the default).'),
            'value': s('The taint value for Equal.'),
            'effect': s('NoSchedule or NoExecute; empty matches both.'),
            'tolerationSeconds': s('How long a NoExecute taint is tolerated before the '
                                   'resources are moved.', 'integer', format='int64')})),
    'spreadConstraints': arr('How the selected clusters are spread over topology groups.', obj(
        'A spread over one topology field or label.', {
            'spreadByField': s('cluster, region, zone or provider.'),
            'spreadByLabel': s('A cluster label to spread by (instead of spreadByField).'),
            'maxGroups': i('At most this many groups.'),
            'minGroups': i('At least this many groups.')})),
    'replicaScheduling': obj('How replicas are assigned to the selected clusters.', {
        'replicaSchedulingType': s('Duplicated (every cluster runs spec.replicas) or Divided '
                                   '(the replicas are shared out).'),
        'replicaDivisionPreference': s('For Divided: Aggregated (as few clusters as possible) '
                                       'or Weighted.'),
        'weightPreference': obj('For Weighted: the weight of each cluster.', {
            'staticWeightList': arr('Fixed weights.', obj('The weight of a set of clusters.', {
                'targetCluster': cluster_affinity('The clusters this weight applies to.'),
                'weight': s('Their weight (at least 1).', 'integer', format='int64')},
                ['targetCluster', 'weight'])),
            'dynamicWeight': s('AvailableReplicas: weights follow the replicas each cluster '
                               'can still run.')})}),
}, preserve=True)

PROPAGATION_SPEC = obj('Which resources propagate, and where.', {
    'resourceSelectors': RESOURCE_SELECTORS,
    'placement': PLACEMENT,
    'priority': i('Among policies matching one resource, the highest priority wins (default '
                  '0).'),
    'preemption': s('Always or Never (the default): whether this policy takes resources '
                    'already claimed by a lower-priority policy.'),
    'propagateDeps': b('Also propagate what the resources depend on (ConfigMaps, Secrets, '
                       'ServiceAccounts, PVCs they reference).'),
    'schedulerName': s('The scheduler that places the resources (default-scheduler).'),
    'conflictResolution': s('Abort (the default) or Overwrite: what happens when a member '
                            'cluster already has the resource.'),
    'failover': free('Failover behaviour when a cluster or an application fails.'),
    'suspension': free('Pauses propagation to some or all clusters.'),
}, ['resourceSelectors'], preserve=True)

OVERRIDERS = obj('The changes made to the resources for the target clusters.', {
    'plaintext': arr('JSON patch operations on the resource.', {
        'description': 'One JSON patch operation.', 'type': 'object',
        'required': ['path', 'operator'],
        'properties': {
            'path': s('The JSON pointer of the field, e.g. /spec/replicas.'),
            'operator': s('add, remove or replace.'),
            'value': {'description': 'The value for add and replace (any JSON).',
                      'x-kubernetes-preserve-unknown-fields': True}}}),
    'imageOverrider': arr('Changes to container images.', obj(
        'Changes one component of the images.', {
            'predicate': obj('Which image field to change (default: every container image).',
                             {'path': s('The JSON pointer of the image field.')}),
            'component': s('Registry, Repository or Tag.'),
            'operator': s('add, remove or replace.'),
            'value': s('The new value of the component.')}, ['component', 'operator'])),
    'commandOverrider': arr('Changes to container commands.', obj(
        'Changes the command of one container.', {
            'containerName': s('The container.'),
            'operator': s('add or remove.'),
            'value': strs('The command items added or removed.')},
        ['containerName', 'operator'])),
    'argsOverrider': arr('Changes to container args.', obj(
        'Changes the args of one container.', {
            'containerName': s('The container.'),
            'operator': s('add or remove.'),
            'value': strs('The args added or removed.')}, ['containerName', 'operator'])),
    'labelsOverrider': arr('Changes to labels.', obj('Changes some labels.', {
        'operator': s('add, remove or replace.'),
        'value': strmap('The labels.')}, ['operator'])),
    'annotationsOverrider': arr('Changes to annotations.', obj('Changes some annotations.', {
        'operator': s('add, remove or replace.'),
        'value': strmap('The annotations.')}, ['operator'])),
}, preserve=True)

OVERRIDE_SPEC = obj('Which resources are changed, for which clusters, and how.', {
    'resourceSelectors': RESOURCE_SELECTORS,
    'overrideRules': arr('The rules, applied in order.', obj(
        'The overriders applied for the target clusters.', {
            'targetCluster': cluster_affinity('The clusters the rule applies to (empty: '
                                              'every cluster).'),
            'overriders': OVERRIDERS}, ['overriders'])),
}, preserve=True)

CONDITIONS = arr('The latest observations of the object\'s state.', obj(
    'One condition.', {
        'type': s('The condition type, e.g. Scheduled or Ready.'),
        'status': s('True, False or Unknown.'),
        'reason': s('A one-word CamelCase reason for the last transition.'),
        'message': s('A human-readable message about the transition.'),
        'lastTransitionTime': s('When the status last changed.', format='date-time'),
        'observedGeneration': s('The metadata.generation the condition was set for.',
                                'integer', format='int64')}, ['type', 'status']))

BINDING_SPEC = obj('The resource and the clusters it is scheduled to.', {
    'resource': obj('The resource (template) this binding is for.', {
        'apiVersion': s('Its API version.'),
        'kind': s('Its kind.'),
        'namespace': s('Its namespace (empty for cluster-scoped resources).'),
        'name': s('Its name.'),
        'uid': s('Its UID.'),
        'resourceVersion': s('The resourceVersion of the template last scheduled.')},
        ['apiVersion', 'kind', 'name']),
    'replicas': i('The replicas of the resource (its spec.replicas).'),
    'replicaRequirements': obj('What one replica needs.', {
        'resourceRequest': qmap('The resources one replica requests (cpu, memory, ...).'),
        'nodeClaim': free('Node selector, affinity and tolerations of the replicas.')},
        preserve=True),
    'clusters': arr('The scheduling result: the target clusters.', obj(
        'One target cluster.', {
            'name': s('The member cluster.'),
            'replicas': i('The replicas assigned to it.')}, ['name'])),
    'placement': PLACEMENT,
    'propagateDeps': b('Whether dependencies propagate with the resource.'),
    'schedulerName': s('The scheduler that places the resource.'),
    'conflictResolution': s('Abort or Overwrite.'),
}, ['resource'], preserve=True)

BINDING_STATUS = obj('The scheduling and propagation state.', {
    'schedulerObservedGeneration': s('The binding generation the scheduler last acted on.',
                                     'integer', format='int64'),
    'lastScheduledTime': s('When the binding was last scheduled.', format='date-time'),
    'conditions': CONDITIONS,
    'aggregatedStatus': arr('The state of the resource in each target cluster.', obj(
        'The state in one cluster.', {
            'clusterName': s('The member cluster.'),
            'applied': b('Whether the resource was applied there.'),
            'appliedMessage': s('Why applying failed, when it did.'),
            'health': s('Healthy, Unhealthy or Unknown.'),
            'status': free('The resource\'s status as the member reports it.')},
        ['clusterName'])),
}, preserve=True)

FRQ_SPEC = obj('The quota over all member clusters.', {
    'overall': qmap('The limits over every member cluster together (cpu, memory, pods, ...).'),
    'staticAssignments': arr('Per-cluster shares of the overall quota.', obj(
        'The share of one cluster.', {
            'clusterName': s('The member cluster.'),
            'hard': qmap('Its limits.')}, ['clusterName', 'hard'])),
}, ['overall'], preserve=True)

FRQ_STATUS = obj('The quota\'s observed state.', {
    'overall': qmap('The enforced overall limits.'),
    'overallUsed': qmap('What the namespace uses over every member cluster.'),
    'aggregatedStatus': arr('The use in each member cluster.', obj(
        'The use in one cluster.', {
            'clusterName': s('The member cluster.'),
            'hard': qmap('Its limits.'),
            'used': qmap('What it uses.')}, ['clusterName'])),
}, preserve=True)

KQ_SPEC = obj('A ResourceQuotaSpec enforced over every member cluster together.', {
    'hard': qmap('The limits for each named resource (cpu, memory, pods, count/deployments.'
                 'apps, requests.cpu, ...).'),
    'scopes': strs('Quota scopes the counted objects must all match (Terminating, '
                   'NotTerminating, BestEffort, NotBestEffort, PriorityClass, ...).'),
    'scopeSelector': obj('Scopes as expressions, ANDed with scopes.', {
        'matchExpressions': arr('The scope requirements.', obj(
            'A requirement on one scope.', {
                'scopeName': s('The scope.'),
                'operator': s('In, NotIn, Exists or DoesNotExist.'),
                'values': strs('The values for In and NotIn.')},
            ['scopeName', 'operator']))}),
}, preserve=True)

KQ_STATUS = obj('A ResourceQuotaStatus summed over every member cluster.', {
    'hard': qmap('The enforced limits.'),
    'used': qmap('What the namespace uses, summed over every member cluster.'),
}, preserve=True)

CLUSTER_SPEC = obj('How to reach the member cluster and what it offers.', {
    'id': s('A unique identifier of the cluster.'),
    'syncMode': s('Push (the control plane writes to the cluster) or Pull (an agent in the '
                  'cluster pulls).'),
    'apiEndpoint': s('The URL of the cluster\'s kube-apiserver.'),
    'secretRef': obj('The Secret holding the credentials to reach it.', {
        'namespace': s('The Secret\'s namespace.'),
        'name': s('The Secret\'s name.')}),
    'insecureSkipTLSVerification': b('Skip verifying the apiserver\'s certificate.'),
    'proxyURL': s('A proxy to reach the cluster through.'),
    'provider': s('The cloud provider.'),
    'region': s('The region.'),
    'zone': s('The zone.'),
    'zones': strs('The zones the cluster spans.'),
    'taints': arr('Taints: placements that do not tolerate them avoid the cluster.', obj(
        'One taint.', {
            'key': s('The taint key.'),
            'value': s('The taint value.'),
            'effect': s('NoSchedule or NoExecute.'),
            'timeAdded': s('When a NoExecute taint was added.', format='date-time')},
        ['key', 'effect'])),
}, preserve=True)

CLUSTER_STATUS = obj('The cluster\'s observed state.', {
    'kubernetesVersion': s('The version of its kube-apiserver.'),
    'conditions': CONDITIONS,
    'nodeSummary': obj('Its nodes.', {
        'totalNum': i('How many nodes.'),
        'readyNum': i('How many are Ready.')}),
    'resourceSummary': obj('Its resources.', {
        'allocatable': qmap('What the nodes can allocate in total.'),
        'allocating': qmap('What pending pods request.'),
        'allocated': qmap('What scheduled pods request.')}, preserve=True),
}, preserve=True)

SCHEMAS = {
    'Cluster': (CLUSTER_SPEC, CLUSTER_STATUS),
    'PropagationPolicy': (PROPAGATION_SPEC, None),
    'ClusterPropagationPolicy': (PROPAGATION_SPEC, None),
    'OverridePolicy': (OVERRIDE_SPEC, None),
    'ClusterOverridePolicy': (OVERRIDE_SPEC, None),
    'FederatedResourceQuota': (FRQ_SPEC, FRQ_STATUS),
    'KarmadaQuota': (KQ_SPEC, KQ_STATUS),
    'ResourceBinding': (BINDING_SPEC, BINDING_STATUS),
    'ClusterResourceBinding': (BINDING_SPEC, BINDING_STATUS),
}


def emit(v, indent, out):
    """Block-style YAML for v (dicts and lists; scalars as JSON, which is YAML)."""
    pad = ' ' * indent
    for k in v:
        x = v[k]
        if isinstance(x, dict) and x:
            out.append('%s%s:' % (pad, k))
            emit(x, indent + 2, out)
        elif isinstance(x, list) and x and isinstance(x[0], dict):
            out.append('%s%s:' % (pad, k))
            for e in x:
                sub = []
                emit(e, indent + 4, sub)
                out.append(pad + '- ' + sub[0].lstrip())
                out.extend(sub[1:])
        else:
            out.append('%s%s: %s' % (pad, k, json.dumps(x)))


def main():
    path = sys.argv[1]
    lines = open(path).read().split('\n')
    at = next(n for n, line in enumerate(lines) if line.strip() == 'openAPIV3Schema:')
    head = lines[:at + 1]
    indent = len(lines[at]) - len(lines[at].lstrip()) + 2
    kind = next(line.split(':', 1)[1].strip() for line in lines if line.strip().startswith('kind:')
                and line.startswith('    kind:'))
    desc = next(line.split(':', 1)[1].strip() for line in lines[at + 1:]
                if line.strip().startswith('description:'))
    spec, status = SCHEMAS[kind]
    root = {'description': json.loads(desc), 'type': 'object', 'required': ['spec'],
            'properties': {'apiVersion': s('APIVersion defines the versioned schema of this '
                                           'representation of an object.'),
                           'kind': s('Kind is a string value representing the REST resource '
                                     'this object represents.'),
                           'metadata': {'type': 'object'},
                           'spec': spec,
                           'status': status or free('The observed state (written by '
                                                    'Flotilla).')}}
    out = []
    emit(root, indent, out)
    sys.stdout.write('\n'.join(head + out) + '\n')


if __name__ == '__main__':
    main()
