/*
 * kube/openapi_schemas.h: the generated schema table kube/openapi.c serves
 * (kube/openapi_schemas.c, made by tools/gen_openapi_schemas.py). Private
 * to kube/.
 */
#ifndef FL_KUBE_OPENAPI_SCHEMAS_H
#define FL_KUBE_OPENAPI_SCHEMAS_H

/* One JSON object: "io.k8s.api.core.v1.Pod" -> its OpenAPI v3 schema, for
 * every built-in kind served and the types they reach, with descriptions. */
extern const char fl_kube_openapi_schemas[];

#endif
