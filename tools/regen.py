#!/usr/bin/python3
"""Regenerate the generated sources from their inputs, or (--check) fail
when a checked-in output differs from what its generator writes now.

usage: regen.py [--check] [SOURCE_ROOT]   (default: this file's repository)
"""
import os
import subprocess
import sys

# (generator in tools/, its arguments relative to the root, output file)
GENERATED = [
    ('gen_openapi_schemas.py', ['tests/golden'], 'kube/openapi_schemas.c'),
    ('gen_patch_schema.py', ['tests/golden'], 'kube/patch_schema.c'),
] + [('gen_crd_schemas.py', [f], f) for f in sorted(
    'deploy/crds/' + n for n in os.listdir(os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), 'deploy', 'crds')) if n.endswith('.yaml'))]


def main():
    args = sys.argv[1:]
    check = '--check' in args
    args = [a for a in args if a != '--check']
    root = args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    stale = []
    for gen, gargs, out in GENERATED:
        text = subprocess.run([sys.executable, os.path.join(root, 'tools', gen)] +
                              [os.path.join(root, a) for a in gargs],
                              check=True, capture_output=True, text=True).stdout
        path = os.path.join(root, out)
        try:
            with open(path) as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current == text:
            continue
        if check:
            stale.append(out)
        else:
            with open(path, 'w') as f:
                f.write(text)
            print('regenerated ' + out)
    if stale:
        print('out of date (run ./dev regen): ' + ', '.join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
