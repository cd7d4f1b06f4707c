/*
 * kube: Kubernetes primitives with k8s.io/apimachinery's exact semantics,
 * and the pieces every Flotilla module needs to speak Kubernetes:
 *
 *   kube/json.h       Go-compatible JSON encoding, Status objects, object helpers
 *   kube/jscan.h      strict in-place JSON scanner (objects as byte ranges)
 *   kube/quantity.h   resource.Quantity: parse, exact arithmetic, canonical form
 *   kube/labels.h     label selectors (string and LabelSelector JSON forms)
 *   kube/fields.h     field selectors
 *   kube/patch.h      JSON merge patch, JSON patch, strategic merge patch
 *   kube/yaml.h       YAML documents to JSON (libyaml), with line numbers
 *   kube/kubeconfig.h kubeconfig files, exec credential plugins
 *   kube/cert.h       CA, serving and client certificates (OpenSSL)
 *   kube/client.h     HTTP client: libcurl multi on a libuv loop
 *   kube/resource.h   group/version/resource/kind registry, discovery documents
 *   kube/table.h      server-side meta.k8s.io/v1 Table rendering
 *
 * This is the one header other modules include; the sub-headers are its
 * chapters (as uv.h includes uv/unix.h). JSON values are jansson's json_t:
 * Kubernetes objects are JSON, and jansson is the project's JSON library.
 * Nothing in kube/ knows about the index, HTTP serving or SQL.
 */
#ifndef FL_KUBE_H
#define FL_KUBE_H

#include "base/base.h"

#if __has_include("kube/json.h")
#include "kube/json.h"
#endif
#if __has_include("kube/jscan.h")
#include "kube/jscan.h"
#endif
#if __has_include("kube/quantity.h")
#include "kube/quantity.h"
#endif
#if __has_include("kube/labels.h")
#include "kube/labels.h"
#endif
#if __has_include("kube/fields.h")
#include "kube/fields.h"
#endif
#if __has_include("kube/patch.h")
#include "kube/patch.h"
#endif
#if __has_include("kube/yaml.h")
#include "kube/yaml.h"
#endif
#if __has_include("kube/kubeconfig.h")
#include "kube/kubeconfig.h"
#endif
#if __has_include("kube/cert.h")
#include "kube/cert.h"
#endif
#if __has_include("kube/client.h")
#include "kube/client.h"
#endif
#if __has_include("kube/resource.h")
#include "kube/resource.h"
#endif
#if __has_include("kube/table.h")
#include "kube/table.h"
#endif

#endif
