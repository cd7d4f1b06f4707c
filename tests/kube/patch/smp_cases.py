#!/usr/bin/python3
"""Writes tests/kube/patch/smp.json (run from the repository root): strategic
merge patch cases, most ported from k8s.io/apimachinery v0.26
pkg/util/strategicpatch/patch_test.go with upstream's MergeItem test type
(kind strategicpatch.test/MergeItem in the schema table), the rest checking
the built-in kinds' merge keys. Each case: doc + patch -> expected or error."""
import yaml, json
Y = r'''
# Ported from k8s.io/apimachinery v0.26 strategicpatch/patch_test.go
# (customStrategicMergePatchTestCaseData, customStrategicMergePatchRawTestCases,
# createStrategicMergePatchTestCaseData, strategicMergePatchRawTestCases):
# patch applied to doc must give expected (twoWay on original -> modified,
# threeWay on current -> result), kind MergeItem.
- name: unique scalars when merging lists
  doc: {mergingIntList: [1, 2]}
  patch: {mergingIntList: [2, 3]}
  expected: {mergingIntList: [1, 2, 3]}
- name: delete map from nested map
  doc: {simpleMap: {key1: 1, key2: 1}}
  patch: {simpleMap: {$patch: delete}}
  expected: {simpleMap: {}}
- name: delete all items from merging list
  doc: {mergingList: [{name: 1}, {name: 2}]}
  patch: {mergingList: [{$patch: replace}]}
  expected: {mergingList: []}
- name: merge empty merging lists
  doc: {mergingList: []}
  patch: {mergingList: []}
  expected: {mergingList: []}
- name: delete all keys from map
  doc: {name: 1, value: 1}
  patch: {$patch: replace}
  expected: {}
- name: add key and delete all keys from map
  doc: {name: 1, value: 1}
  patch: {other: a, $patch: replace}
  expected: {other: a}
- name: delete all duplicate entries in a merging list
  doc: {mergingList: [{name: 1}, {name: 1}, {name: 2, value: a}, {name: 3}, {name: 3}]}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 3, $patch: delete}]}
  expected: {mergingList: [{name: 2, value: a}]}
- name: retainKeys map can add a field when no retainKeys directive present
  doc: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {value: bar}}
  expected: {retainKeysMap: {name: foo, value: bar}}
- name: retainKeys map can delete a field when no retainKeys directive present
  doc: {retainKeysMap: {name: foo, value: a}}
  patch: {retainKeysMap: {value: null}}
  expected: {retainKeysMap: {name: foo}}
- name: retainKeys list can change a field when no retainKeys directive present
  doc: {retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}
  patch: {retainKeysMergingList: [{name: foo, value: b}]}
  expected: {retainKeysMergingList: [{name: bar}, {name: foo, value: b}]}
- name: preserve the order from the patch in a merging list
  doc: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, other: x}]}
  expected: {mergingList: [{name: 3, value: c}, {name: 1, value: a}, {name: 2, value: b, other: x}]}
- name: preserve the order from the patch in a merging list 2
  doc: {mergingList: [{name: 1}, {name: 2, value: b}, {name: 3}]}
  patch: {mergingList: [{name: 3, value: c}, {name: 1, value: a}]}
  expected: {mergingList: [{name: 2, value: b}, {name: 3, value: c}, {name: 1, value: a}]}
- name: preserve the order from the patch in a merging int list
  doc: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1, 2]}
  expected: {mergingIntList: [3, 1, 2]}
- name: preserve the order from the patch in a merging int list 2
  doc: {mergingIntList: [1, 2, 3]}
  patch: {mergingIntList: [3, 1]}
  expected: {mergingIntList: [2, 3, 1]}
- name: $setElementOrder contains item that is not present in the list to be merged
  doc: {mergingList: [{name: 1}, {name: 3}]}
  patch: {$setElementOrder/mergingList: [{name: 3}, {name: 2}, {name: 1}], mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}
  expected: {mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}
- name: $setElementOrder contains item that is not present in the int list to be merged
  doc: {mergingIntList: [1, 3]}
  patch: {$setElementOrder/mergingIntList: [3, 2, 1]}
  expected: {mergingIntList: [3, 1]}
- name: should check if order in $setElementOrder and patch list match
  doc: {mergingList: [{name: 1}, {name: 3}, {name: 2}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 3, value: 3}, {name: 1, value: 1}]}
  error: {code: 500, message: "The order in patch list:\n[map[name:3 value:3] map[name:1 value:1]]\n doesn't match $setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]\n"}
- name: should check if order in $setElementOrder and patch int list match
  doc: {mergingIntList: [1, 3, 2]}
  patch: {$setElementOrder/mergingIntList: [1, 2, 3], mergingIntList: [3, 1]}
  error: {code: 500, message: "The order in patch list:\n[3 1]\n doesn't match $setElementOrder list:\n[1 2 3]\n"}
- name: missing merge key should error out
  doc: {mergingList: [{name: 1, value: a}]}
  patch: {mergingList: [{value: b}]}
  error: {code: 500, message: "map: map[value:b] does not contain declared merge key: name"}
- name: $deleteFromPrimitiveList of nonexistent item should not add the item
  doc: {mergingIntList: [1, 2]}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [1, 2]}
- name: $deleteFromPrimitiveList on empty primitive list should not add the item
  doc: {mergingIntList: null}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: null}
- name: $deleteFromPrimitiveList on nonexistent primitive list should not add the list
  doc: {foo: [bar]}
  patch: {$deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {foo: [bar]}
- name: nil original
  doc: {}
  patch: {name: 1, value: 1}
  expected: {name: 1, value: 1}
- name: add field to map with conflict (threeWay)
  doc: {name: a, other: a}
  patch: {name: 1, value: 1}
  expected: {name: 1, other: a, value: 1}
- name: add field and delete field from map (threeWay)
  doc: {name: 1, other: a}
  patch: {name: null, value: 1}
  expected: {other: a, value: 1}
- name: delete field from nested map with conflict (threeWay)
  doc: {simpleMap: {key1: a, key2: 1, other: a}}
  patch: {simpleMap: {key1: 1, key2: null}}
  expected: {simpleMap: {key1: 1, other: a}}
- name: replace list of scalars
  doc: {nonMergingIntList: [1, 2]}
  patch: {nonMergingIntList: [2, 3]}
  expected: {nonMergingIntList: [2, 3]}
- name: delete all maps from merging list with conflict (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 2, other: b}]}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 2, $patch: delete}]}
  expected: {mergingList: []}
- name: delete all maps from empty merging list (threeWay)
  doc: {mergingList: []}
  patch: {mergingList: [{name: 1, $patch: delete}, {name: 2, $patch: delete}]}
  expected: {mergingList: []}
- name: defined null values should propagate overwrite current fields
  doc: {name: 2}
  patch: {name: 1, value: 1, other: null}
  expected: {name: 1, value: 1}
- name: retainKeys map with no change (threeWay)
  doc: {name: a, other: c, retainKeysMap: {name: foo}}
  patch: {value: b}
  expected: {name: a, other: c, retainKeysMap: {name: foo}, value: b}
- name: delete items in lists of scalars
  doc: {mergingIntList: [1, 2, 3]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [1, 2]}
- name: delete items in lists of scalars (threeWay)
  doc: {mergingIntList: [1, 2, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [1, 2, 4]}
- name: delete all duplicate items in lists of scalars (threeWay)
  doc: {mergingIntList: [1, 2, 3, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [1, 2], $deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [1, 2, 4]}
- name: add and delete items in lists of scalars
  doc: {mergingIntList: [1, 2, 3]}
  patch: {$setElementOrder/mergingIntList: [1, 2, 4], $deleteFromPrimitiveList/mergingIntList: [3], mergingIntList: [4]}
  expected: {mergingIntList: [1, 2, 4]}
- name: merge lists of maps
  doc: {mergingList: [{name: 1}, {name: 2, value: 2}]}
  patch: {$setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]}
  expected: {mergingList: [{name: 4, value: 4}, {name: 1}, {name: 2, value: 2}, {name: 3, value: 3}]}
- name: merge lists of maps (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 4}, {name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 4, value: 4}, {name: 3, value: 3}]}
  expected: {mergingList: [{name: 4, value: 4}, {name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}
- name: merge lists of maps with conflict (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 2, value: 3, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}, {name: 3}], mergingList: [{name: 2, value: 2}, {name: 3, value: 3}]}
  expected: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}, {name: 3, value: 3}]}
- name: add field to map in merging list (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: 1}]}
  expected: {mergingList: [{name: 1, other: a, value: 1}, {name: 2, value: 2, other: b}]}

- name: add field to map in merging list with conflict (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 3, value: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]}
  expected: {mergingList: [{name: 1, value: 1, other: a}, {name: 2, value: 2}, {name: 3, value: 2, other: b}]}
- name: delete map from merging list (threeWay)
  doc: {mergingList: [{name: 1}, {name: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 1, $patch: delete}]}
  expected: {mergingList: [{name: 2, other: b}]}
- name: delete missing map from merging list with conflict (threeWay)
  doc: {mergingList: [{name: 3, other: a}]}
  patch: {$setElementOrder/mergingList: [{name: 2}], mergingList: [{name: 2}, {name: 1, $patch: delete}]}
  expected: {mergingList: [{name: 2}, {name: 3, other: a}]}
- name: add map and delete map from merging list (threeWay)
  doc: {mergingList: [{name: 1}, {name: 2, other: b}, {name: 4, other: c}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 3}], mergingList: [{name: 3}, {name: 1, $patch: delete}]}
  expected: {mergingList: [{name: 2, other: b}, {name: 4, other: c}, {name: 3}]}
- name: add map and delete map from merging list with conflict (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 4, other: c}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 3}], mergingList: [{name: 2}, {name: 3}, {name: 1, $patch: delete}]}
  expected: {mergingList: [{name: 4, other: c}, {name: 2}, {name: 3}]}
- name: delete missing field from map in merging list with conflict (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, value: null}, {name: 2, value: 2}]}
  expected: {mergingList: [{name: 1, other: a}, {name: 2, value: 2, other: b}]}
- name: replace non merging list nested in merging list with deletion conflict (threeWay)
  doc: {mergingList: [{name: 1, other: a, nonMergingList: [{name: 2, value: 2}]}, {name: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{name: 1, nonMergingList: [{name: 1, value: 1}]}]}
  expected: {mergingList: [{name: 1, other: a, nonMergingList: [{name: 1, value: 1}]}, {name: 2, other: b}]}
- name: add field to map in merging list nested in merging list (threeWay)
  doc: {mergingList: [{name: 1, other: a, mergingList: [{name: 1}, {name: 2, value: 2}]}, {name: 2, other: b}]}
  patch: {$setElementOrder/mergingList: [{name: 1}, {name: 2}], mergingList: [{$setElementOrder/mergingList: [{name: 1}, {name: 2}], name: 1, mergingList: [{name: 1, value: 1}]}]}
  expected: {mergingList: [{name: 1, other: a, mergingList: [{name: 1, value: 1}, {name: 2, value: 2}]}, {name: 2, other: b}]}

- name: retainKeys map replaces non-merging list
  doc: {retainKeysMap: {name: foo, value: bar, nonMergingList: [{name: a}, {name: b}]}}
  patch: {retainKeysMap: {$retainKeys: [name, nonMergingList, value], nonMergingList: [{name: a}, {name: c}, {name: b}]}}
  expected: {retainKeysMap: {name: foo, value: bar, nonMergingList: [{name: a}, {name: c}, {name: b}]}}
- name: retainKeys map nested merging int list with no change (threeWay)
  doc: {retainKeysMap: {name: foo, mergingIntList: [1, 2, 3]}}
  patch: {retainKeysMap: {$retainKeys: [mergingIntList, name, value], $setElementOrder/mergingIntList: [1, 2], value: bar}}
  expected: {retainKeysMap: {name: foo, value: bar, mergingIntList: [1, 2, 3]}}
- name: retainKeys map adds an item in nested merging int list (threeWay)
  doc: {retainKeysMap: {name: foo, mergingIntList: [1, 2, 3]}}
  patch: {retainKeysMap: {$setElementOrder/mergingIntList: [1, 2, 4], $retainKeys: [mergingIntList, name], mergingIntList: [4]}}
  expected: {retainKeysMap: {name: foo, mergingIntList: [1, 2, 4, 3]}}
- name: retainKeys map deletes an item in nested merging int list (threeWay)
  doc: {retainKeysMap: {name: foo, mergingIntList: [1, 2, 3, 4]}}
  patch: {retainKeysMap: {$retainKeys: [mergingIntList, name], $deleteFromPrimitiveList/mergingIntList: [2], $setElementOrder/mergingIntList: [1, 3]}}
  expected: {retainKeysMap: {name: foo, mergingIntList: [1, 3, 4]}}
- name: retainKeys map adds an item and deletes an item in nested merging int list (threeWay)
  doc: {retainKeysMap: {name: foo, mergingIntList: [1, 2, 3, 4]}}
  patch: {retainKeysMap: {$retainKeys: [mergingIntList, name], mergingIntList: [5], $deleteFromPrimitiveList/mergingIntList: [2], $setElementOrder/mergingIntList: [1, 3, 5]}}
  expected: {retainKeysMap: {name: foo, mergingIntList: [1, 3, 5, 4]}}
- name: retainKeys map deletes nested merging int list
  doc: {retainKeysMap: {name: foo, mergingIntList: [1, 2, 3]}}
  patch: {retainKeysMap: {$retainKeys: [name], mergingIntList: null}}
  expected: {retainKeysMap: {name: foo}}
- name: retainKeys map adds an item in nested merging list (threeWay)
  doc: {retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: x}]}}
  patch: {retainKeysMap: {$retainKeys: [mergingList, name], $setElementOrder/mergingList: [{name: a}, {name: b}, {name: c}], mergingList: [{name: c}]}}
  expected: {retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: c}, {name: x}]}}
- name: retainKeys map deletes an item in nested merging list (threeWay)
  doc: {retainKeysMap: {name: foo, mergingList: [{name: a}, {name: b}, {name: x}]}}
  patch: {retainKeysMap: {$retainKeys: [mergingList, name], $setElementOrder/mergingList: [{name: a}], mergingList: [{name: b, $patch: delete}]}}
  expected: {retainKeysMap: {name: foo, mergingList: [{name: a}, {name: x}]}}
- name: retainKeys list of maps clears a field (threeWay)
  doc: {retainKeysMergingList: [{name: bar}, {name: foo, value: a, other: x}]}
  patch: {$setElementOrder/retainKeysMergingList: [{name: bar}, {name: foo}], retainKeysMergingList: [{$retainKeys: [name, value], name: foo}]}
  expected: {retainKeysMergingList: [{name: bar}, {name: foo, value: a}]}
- name: retainKeys list of maps changes a field and clear a field with conflict (threeWay)
  doc: {retainKeysMergingList: [{name: bar}, {name: foo, value: modified, other: x}]}
  patch: {$setElementOrder/retainKeysMergingList: [{name: bar}, {name: foo}], retainKeysMergingList: [{$retainKeys: [name, value], name: foo, value: new}]}
  expected: {retainKeysMergingList: [{name: bar}, {name: foo, value: new}]}

- name: set elements order in a list with server-only items 2 (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 2, value: 2}, {name: 9}, {name: 3, value: 3}, {name: 4, value: 4}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}]}
  expected: {mergingList: [{name: 2, value: 2}, {name: 1, other: a}, {name: 9}, {name: 4, value: 4}, {name: 3, value: 3}]}
- name: set elements order in a list with server-only items 3 (threeWay)
  doc: {mergingList: [{name: 1, other: a}, {name: 2, value: 2}, {name: 7}, {name: 9}, {name: 8}, {name: 3, value: 3}, {name: 4, value: 4}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}]}
  expected: {mergingList: [{name: 2, value: 2}, {name: 1, other: a}, {name: 7}, {name: 9}, {name: 8}, {name: 4, value: 4}, {name: 3, value: 3}]}
- name: add an item in a int list and preserve order
  doc: {mergingIntList: [1, 2]}
  patch: {$setElementOrder/mergingIntList: [3, 1, 2], mergingIntList: [3]}
  expected: {mergingIntList: [3, 1, 2]}
- name: add multiple items in a int list and preserve order
  doc: {mergingIntList: [1, 2]}
  patch: {$setElementOrder/mergingIntList: [1, 4, 2, 3], mergingIntList: [4, 3]}
  expected: {mergingIntList: [1, 4, 2, 3]}
- name: delete an item in a int list and preserve order (threeWay)
  doc: {mergingIntList: [1, 2, 3]}
  patch: {$setElementOrder/mergingIntList: [2, 1], $deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [2, 1]}
- name: add and delete an item in a int list and preserve order (threeWay)
  doc: {mergingIntList: [1, 2, 3]}
  patch: {$setElementOrder/mergingIntList: [4, 2, 1], mergingIntList: [4], $deleteFromPrimitiveList/mergingIntList: [3]}
  expected: {mergingIntList: [4, 2, 1]}
- name: set elements order in a int list with server-only items (threeWay)
  doc: {mergingIntList: [1, 3, 4, 2, 9]}
  patch: {$setElementOrder/mergingIntList: [4, 2, 3, 1]}
  expected: {mergingIntList: [4, 2, 3, 1, 9]}
- name: set elements order in a int list with server-only items 2 (threeWay)
  doc: {mergingIntList: [1, 2, 9, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [2, 1, 4, 3]}
  expected: {mergingIntList: [2, 1, 9, 4, 3]}
- name: set elements order in a int list with server-only items 3 (threeWay)
  doc: {mergingIntList: [1, 2, 7, 9, 8, 3, 4]}
  patch: {$setElementOrder/mergingIntList: [2, 1, 4, 3]}
  expected: {mergingIntList: [2, 1, 7, 9, 8, 4, 3]}
- name: behavior of set element order for a merging list with duplicate
  doc: {mergingList: [{name: 1}, {name: 2, value: dup1}, {name: 3}, {name: 2, value: dup2}, {name: 4}]}
  patch: {$setElementOrder/mergingList: [{name: 2}, {name: 1}, {name: 4}, {name: 3}, {name: 2}]}
  expected: {mergingList: [{name: 2, value: dup1}, {name: 2, value: dup2}, {name: 1}, {name: 4}, {name: 3}]}
- name: behavior of set element order for a merging int list with duplicate
  doc: {mergingIntList: [1, 2, 3, 2, 4]}
  patch: {$setElementOrder/mergingIntList: [2, 1, 4, 3, 2]}
  expected: {mergingIntList: [2, 2, 1, 4, 3]}
- name: retainKeys map should clear defaulted field with conflict (discriminated union)
  doc: {retainKeysMap: {name: type1, value: foo}}
  patch: {retainKeysMap: {$retainKeys: [name, other], name: type2, other: bar}}
  expected: {retainKeysMap: {name: type2, other: bar}}
- name: retainKeys map clears a field (threeWay)
  doc: {retainKeysMap: {name: foo, value: bar, other: a}}
  patch: {retainKeysMap: {$retainKeys: [name, value]}}
  expected: {retainKeysMap: {name: foo, value: bar}}

# $retainKeys (apply side: keys not listed are cleared; a patch key not listed is a 400)
- name: retainKeys clears unlisted fields
  doc: {retainKeysMap: {name: foo, value: a, other: b}}
  patch: {retainKeysMap: {$retainKeys: [name, value], value: c}}
  expected: {retainKeysMap: {name: foo, value: c}}
- name: retainKeys with a patch key it does not list
  doc: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {$retainKeys: [name], value: c}}
  error: {code: 400, message: invalid patch format of retainKeys}
- name: retainKeys not a list
  doc: {retainKeysMap: {name: foo}}
  patch: {retainKeysMap: {$retainKeys: name}}
  error: {code: 400, message: invalid patch format of retainKeys}
# more directives and errors
- name: $patch merge in a list element is refused
  doc: {mergingList: [{name: 1}]}
  patch: {mergingList: [{name: 1, $patch: merge}]}
  error: {code: 500, message: merging lists cannot yet be specified in the patch}
- name: unknown $patch in a map
  doc: {simpleMap: {a: b}}
  patch: {simpleMap: {$patch: frob}}
  error: {code: 500, message: "unknown patch type: frob in map: map[$patch:frob]"}
- name: $patch merge in a map is an unknown patch type
  doc: {simpleMap: {a: b}}
  patch: {simpleMap: {$patch: merge, c: d}}
  error: {code: 500, message: "unknown patch type: merge in map: map[$patch:merge c:d]"}
- name: bad $setElementOrder key
  doc: {}
  patch: {$setElementOrder: [1]}
  error: {code: 400, message: invalid patch format of setElementOrder list}
- name: bad $deleteFromPrimitiveList key
  doc: {}
  patch: {$deleteFromPrimitiveListX/a: [1]}
  error: {code: 400, message: invalid patch format of primitive list}
- name: list of lists
  doc: {mergingIntList: [[1]]}
  patch: {mergingIntList: [[2]]}
  error: {code: 422, message: lists of lists are not supported}
- name: mixed element types
  doc: {mergingIntList: [1]}
  patch: {mergingIntList: [a]}
  error: {code: 500, message: "list element types are not identical: [[1] [a]]"}
- name: primitive merge de-duplicates with Go's swap-with-last order
  doc: {mergingIntList: [1, 2, 1, 3, 4]}
  patch: {mergingIntList: [5]}
  expected: {mergingIntList: [5, 1, 2, 3, 4]}
- name: null deletes, null inside a new value is dropped
  doc: {name: a, value: b}
  patch: {value: null, simpleMap: {k: null, j: x}}
  expected: {name: a, simpleMap: {j: x}}
- name: replace strategy field is taken whole
  doc: {replacingItem: {a: 1, b: 2}}
  patch: {replacingItem: {c: 3}}
  expected: {replacingItem: {c: 3}}
- name: nested merging list inside a merging list
  doc: {mergingList: [{name: 1, mergingList: [{name: a, value: x}]}]}
  patch: {mergingList: [{name: 1, mergingList: [{name: b}]}]}
  expected: {mergingList: [{name: 1, mergingList: [{name: b}, {name: a, value: x}]}]}
- name: non-merging list inside a merging list is replaced
  doc: {mergingList: [{name: 1, nonMergingList: [{name: a}]}]}
  patch: {mergingList: [{name: 1, nonMergingList: [{name: b}]}]}
  expected: {mergingList: [{name: 1, nonMergingList: [{name: b}]}]}
- name: $patch replace on a list of maps keeps only the patch's plain elements
  doc: {mergingList: [{name: 1}, {name: 2}]}
  patch: {mergingList: [{name: 3}, {$patch: replace}]}
  expected: {mergingList: [{name: 3}]}
- name: null patch is a no-op
  doc: {name: a}
  patch: null
  expected: {name: a}
- name: patch must be an object
  doc: {name: a}
  patch: [1]
  error: {code: 400, message: "json: cannot unmarshal array into Go value of type map[string]interface {}"}
'''
K = r'''
# Built-in kinds: merge keys of the k8s.io/api types.
- name: pod containers merge by name, env by name
  group: ""
  kind: Pod
  doc: {spec: {containers: [{name: a, image: x, env: [{name: A, value: "1"}, {name: B, value: "2"}]}, {name: b, image: y}]}}
  patch: {spec: {containers: [{name: a, env: [{name: B, value: "3"}, {name: C, value: "4"}]}]}}
  expected: {spec: {containers: [{name: a, image: x, env: [{name: A, value: "1"}, {name: B, value: "3"}, {name: C, value: "4"}]}, {name: b, image: y}]}}
- name: pod tolerations have no merge key (replaced)
  group: ""
  kind: Pod
  doc: {spec: {tolerations: [{key: a, operator: Exists}]}}
  patch: {spec: {tolerations: [{key: b, operator: Exists}]}}
  expected: {spec: {tolerations: [{key: b, operator: Exists}]}}
- name: pod status conditions merge by type
  group: ""
  kind: Pod
  doc: {status: {phase: Pending, conditions: [{type: PodScheduled, status: "True"}]}}
  patch: {status: {phase: Running, conditions: [{type: Ready, status: "True"}, {type: PodScheduled, status: "True", reason: x}]}}
  expected: {status: {phase: Running, conditions: [{type: Ready, status: "True"}, {type: PodScheduled, status: "True", reason: x}]}}
- name: finalizers are a merged primitive list (items not in the original go first)
  group: apps
  kind: Deployment
  doc: {metadata: {finalizers: [a, b]}}
  patch: {metadata: {finalizers: [c]}}
  expected: {metadata: {finalizers: [c, a, b]}}
- name: finalizers delete from primitive list
  group: apps
  kind: Deployment
  doc: {metadata: {finalizers: [a, b, c]}}
  patch: {metadata: {$deleteFromPrimitiveList/finalizers: [b]}}
  expected: {metadata: {finalizers: [a, c]}}
- name: deployment template volumes with retainKeys
  group: apps
  kind: Deployment
  doc: {spec: {template: {spec: {volumes: [{name: v, emptyDir: {}}]}}}}
  patch: {spec: {template: {spec: {volumes: [{name: v, $retainKeys: [configMap, name], configMap: {name: cm}}]}}}}
  expected: {spec: {template: {spec: {volumes: [{name: v, configMap: {name: cm}}]}}}}
- name: deployment strategy retainKeys
  group: apps
  kind: Deployment
  doc: {spec: {strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}}}
  patch: {spec: {strategy: {$retainKeys: [type], type: Recreate}}}
  expected: {spec: {strategy: {type: Recreate}}}
- name: service ports merge by port
  group: ""
  kind: Service
  doc: {spec: {ports: [{port: 80, name: http}, {port: 443, name: https}]}}
  patch: {spec: {ports: [{port: 443, targetPort: 8443}]}}
  expected: {spec: {ports: [{port: 80, name: http}, {port: 443, name: https, targetPort: 8443}]}}
- name: node taints are replaced
  group: ""
  kind: Node
  doc: {spec: {taints: [{key: a, effect: NoSchedule}]}}
  patch: {spec: {taints: [{key: b, effect: NoSchedule}]}}
  expected: {spec: {taints: [{key: b, effect: NoSchedule}]}}
- name: node status addresses merge by type
  group: ""
  kind: Node
  doc: {status: {addresses: [{type: InternalIP, address: 127.0.0.1}, {type: Hostname, address: node-1}]}}
  patch: {status: {$setElementOrder/addresses: [{type: InternalIP}], addresses: [{type: Hostname, $patch: delete}]}}
  expected: {status: {addresses: [{type: InternalIP, address: 127.0.0.1}]}}
- name: cronjob containers reach through jobTemplate
  group: batch
  kind: CronJob
  doc: {spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: x}]}}}}}}
  patch: {spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: y}]}}}}}}
  expected: {spec: {jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: y}]}}}}}}
- name: configmap data merges as a map
  group: ""
  kind: ConfigMap
  doc: {data: {a: "1", b: "2"}}
  patch: {data: {a: null, c: "3"}}
  expected: {data: {b: "2", c: "3"}}
- name: malformed strategic patch (no "error decoding patch" prefix)
  group: ""
  kind: Pod
  doc: {}
  patch_raw: '{"spec":'
  error: {code: 400, message: unexpected end of JSON input}
- name: strategic merge patch on a custom resource
  group: example.com
  kind: Widget
  doc: {spec: {size: 3}}
  patch: {spec: {size: 4}}
  error: {code: 415, message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"}
'''
out = []
for c in yaml.safe_load(Y):
    c.setdefault('group', 'strategicpatch.test'); c.setdefault('kind', 'MergeItem')
    c['type'] = 'strategic'; out.append(c)
for c in yaml.safe_load(K):
    c['type'] = 'strategic'; out.append(c)
# JSON numbers: YAML ints stay ints
json.dump(out, open('tests/kube/patch/smp.json', 'w'), indent=1)
print(len(out))
