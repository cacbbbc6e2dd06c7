# -*- coding: utf-8 -*-
# Copyright: (c) 2026, simpledeploy developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Time pyc_cleanup's planner and executor against find on a 100k-file tree.

Builds, in a temporary directory, a seeded deterministic tree shaped like the
one in notes/anchors.md (about 100,000 files, about 35,000 .pyc in about
5,000 __pycache__ directories, plus orphans: cached bytecode whose source is
gone, legacy NAME.pyc beside no NAME.py, packages of nothing but bytecode).
Then, each on a fresh copy of the tree (copy time excluded), times:

  find -name '*.pyc' -delete
  find -name __pycache__ -prune -exec rm -rf {} +
  cleanup() in mode all: what the module runs (one os.scandir walk over
    directory descriptors, each directory opened O_NOFOLLOW from its
    parent's, with an lstat of each file to remove for the bytes figure,
    then the unlinks by name relative to each directory's descriptor in
    WORKERS threads, then the rmdirs), also with 1 unlink thread, and in
    check mode (the walk alone)
  cleanup() in mode stale

in rounds (each round runs every method once, in a shuffled order), and prints
the best of N runs, the ratio to find -delete and what each method leaves
behind.  A report, not a test: it never fails on slowness.

    python benchmarks/bench_pyc_cleanup.py [--repeat 5] [--scale 1.0] [--json]
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'plugins', 'module_utils'))

import _bytecode  # noqa: E402  pylint: disable=wrong-import-position

TAGS = ('cpython-311',)
DATA_SUFFIXES = ('.html', '.txt', '.json', '.css', '.js', '.po', '.mo', '.svg', '.png', '.cfg')


def _write(path, size, rng):
    with open(path, 'wb') as handle:
        handle.write(rng.randbytes(size) if hasattr(rng, 'randbytes') else os.urandom(size))


def build_tree(root, scale=1.0, seed=20261124):
    """Create the tree under root; return the counts it was built with."""
    rng = random.Random(seed)
    counts = dict(files=0, pyc=0, pycache=0, stale_cached=0, legacy_orphans=0, bytecode_only_pkgs=0)
    n_packages = int(4952 * scale)
    n_data = int(30000 * scale)
    packages = []
    top = os.path.join(root, 'src')
    os.makedirs(top)
    # A forest of packages, up to 6 levels deep.
    for number in range(n_packages):
        if packages and rng.random() < 0.8:
            parent = rng.choice(packages[-200:])
            if parent.count(os.sep) - top.count(os.sep) >= 6:
                parent = top
        else:
            parent = top
        pkg = os.path.join(parent, 'pkg%d' % number)
        os.mkdir(pkg)
        packages.append(pkg)
        cache = os.path.join(pkg, '__pycache__')
        os.mkdir(cache)
        counts['pycache'] += 1
        modules = ['__init__'] + ['mod%d' % i for i in range(rng.randint(2, 10))]
        for module in modules:
            _write(os.path.join(pkg, module + '.py'), rng.randint(200, 2000), rng)
            _write(os.path.join(cache, '%s.%s.pyc' % (module, TAGS[0])), rng.randint(200, 3000), rng)
            counts['files'] += 2
            counts['pyc'] += 1
        if rng.random() < 0.03:  # a module deleted since it was compiled
            _write(os.path.join(cache, 'gone%d.%s.pyc' % (number, TAGS[0])), 700, rng)
            counts['files'] += 1
            counts['pyc'] += 1
            counts['stale_cached'] += 1
        if rng.random() < 0.02:  # a legacy orphan, still importable
            _write(os.path.join(pkg, 'legacy%d.pyc' % number), 600, rng)
            counts['files'] += 1
            counts['pyc'] += 1
            counts['legacy_orphans'] += 1
    # Packages whose sources were all deleted: still importable namespaces.
    for number in range(int(20 * scale)):
        pkg = os.path.join(rng.choice(packages), 'removed%d' % number)
        os.makedirs(os.path.join(pkg, '__pycache__'))
        counts['pycache'] += 1
        counts['bytecode_only_pkgs'] += 1
        for module in ('__init__', 'models', 'views'):
            _write(os.path.join(pkg, '__pycache__', '%s.%s.pyc' % (module, TAGS[0])), 900, rng)
            counts['files'] += 1
            counts['pyc'] += 1
    # Templates, static files, locale data: directories without bytecode.
    data_dirs = []
    for number in range(n_data // 12):
        base = rng.choice(packages) if rng.random() < 0.7 else top
        path = os.path.join(base, rng.choice(('templates', 'static', 'locale', 'data')) + str(number))
        os.mkdir(path)
        data_dirs.append(path)
    for number in range(n_data):
        path = os.path.join(rng.choice(data_dirs), 'f%d%s' % (number, rng.choice(DATA_SUFFIXES)))
        _write(path, rng.randint(50, 1500), rng)
        counts['files'] += 1
    # Empty directories kept by the application (media/, uploads).
    for number in range(int(50 * scale)):
        os.mkdir(os.path.join(rng.choice(packages), 'media%d' % number))
    return counts


def survey(root):
    """What is left: bytecode files, __pycache__ dirs (empty ones), legacy orphans."""
    left = dict(pyc=0, pycache=0, empty_pycache=0, legacy_orphans=0, files=0)
    for dirpath, dirnames, filenames in os.walk(root):
        left['files'] += len(filenames)
        names = set(filenames)
        for name in filenames:
            if name.endswith(('.pyc', '.pyo')):
                left['pyc'] += 1
                if os.path.basename(dirpath) != '__pycache__' and name[:-4] + '.py' not in names:
                    left['legacy_orphans'] += 1
        if os.path.basename(dirpath) == '__pycache__':
            left['pycache'] += 1
            if not filenames and not dirnames:
                left['empty_pycache'] += 1
    return left


def run_find_delete(tree):
    subprocess.run(['find', tree, '-name', '*.pyc', '-delete'], check=True)


def run_find_prune(tree):
    subprocess.run(['find', tree, '-name', '__pycache__', '-prune', '-exec', 'rm', '-rf', '{}', '+'], check=True)


def run_ours(mode, check_mode=False, workers=None):
    """What the module does: cleanup() (the walk, the removal, the result
    with its sorted paths); workers overrides the number of unlink threads."""
    def run(tree):
        default = _bytecode.WORKERS
        _bytecode.WORKERS = workers or default
        try:
            _bytecode.cleanup(tree, mode, check_mode=check_mode)
        finally:
            _bytecode.WORKERS = default
    return run


METHODS = (
    ("find -name '*.pyc' -delete", run_find_delete),
    ("find -name __pycache__ -prune -exec rm -rf {} +", run_find_prune),
    ('pyc_cleanup mode=all', run_ours('all')),
    ('pyc_cleanup mode=all, 1 unlink thread', run_ours('all', workers=1)),
    ('pyc_cleanup mode=all, check mode (the walk alone)', run_ours('all', check_mode=True)),
    ('pyc_cleanup mode=stale', run_ours('stale')),
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=int, default=5, help='runs per method, best is kept')
    parser.add_argument('--scale', type=float, default=1.0, help='tree size factor (1.0 = about 100k files)')
    parser.add_argument('--seed', type=int, default=20261124)
    parser.add_argument('--json', action='store_true', help='print the figures as JSON too')
    parser.add_argument('--tmpdir', default=None, help='where to build the tree (default: system temp)')
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix='bench-pyc-', dir=args.tmpdir)
    try:
        pristine = os.path.join(work, 'pristine')
        os.mkdir(pristine)
        started = time.perf_counter()
        built = build_tree(pristine, args.scale, args.seed)
        print('tree: %(files)d files, %(pyc)d bytecode files in %(pycache)d __pycache__, '
              '%(stale_cached)d stale cached, %(legacy_orphans)d legacy orphans, '
              '%(bytecode_only_pkgs)d bytecode-only packages' % built)
        print('built in %.1f s under %s; best of %d, each on a fresh copy (copy not timed)'
              % (time.perf_counter() - started, work, args.repeat))
        times = dict((label, []) for label, dummy in METHODS)
        left = {}
        order = random.Random(args.seed)
        tree = os.path.join(work, 'copy')
        for dummy in range(args.repeat):
            # Every round runs each method once, in a shuffled order, so that a
            # busy moment of the machine does not fall on one method only.
            methods = list(METHODS)
            order.shuffle(methods)
            for label, method in methods:
                shutil.rmtree(tree, ignore_errors=True)
                subprocess.run(['cp', '-a', pristine, tree], check=True)
                subprocess.run(['sync'], check=False)
                started = time.perf_counter()
                method(tree)
                times[label].append(time.perf_counter() - started)
                left[label] = survey(tree)
        base = min(times[METHODS[0][0]])
        results = []
        print()
        print('| method | best s | all runs s | vs find -delete | '
              'bytecode left | empty `__pycache__` left | legacy orphans left |')
        print('|---|---|---|---|---|---|---|')
        for label, dummy in METHODS:
            best = min(times[label])
            print('| %s | %.3f | %s | %.2fx | %d | %d | %d |' % (
                label, best, ' '.join('%.3f' % t for t in times[label]), best / base,
                left[label]['pyc'], left[label]['empty_pycache'], left[label]['legacy_orphans']))
            results.append(dict(method=label, best=best, times=times[label], left=left[label]))
        if args.json:
            print(json.dumps(dict(tree=built, results=results), indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
