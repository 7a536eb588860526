"""Install mmrevcol into an existing OpenMMLab environment.

``install_requires`` holds only what mmrevcol itself needs and what cannot
break an environment (ranges, no torch, no mmcv): torch and mmcv come from the
user's own environment (their build must match the machine's CUDA), as in
every OpenMMLab package; their supported ranges are listed in
``requirements/mminstall.txt`` (also the ``mim`` extra). The downstream
libraries are extras::

    pip install mmrevcol[mmseg]        # + mmsegmentation (ftfy, regex)
    pip install mmrevcol[mmdet]        # + mmdet
    pip install mmrevcol[mmpretrain]   # + mmpretrain
    pip install mmrevcol[all]          # all three
    pip install mmrevcol[tests]        # test tools

The pinned, verified stack is in ``requirements/{build,mmcv,runtime,tests}
.txt``, installed by ``tools/bootstrap.sh``.

Wheels and sdists carry ``configs/``, ``tools/`` and ``model-index.yml`` as
``mmrevcol/.mim/...`` (copies); an editable install links them (the OpenMMLab
``add_mim_extension`` convention, what ``mim train mmrevcol CONFIG`` reads).
"""
import os
import os.path as osp
import platform
import shutil
import sys
import warnings

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))

#: Checkout files and folders shipped in ``mmrevcol/.mim``.
MIM_FILES = ('configs', 'tools', 'demo', 'model-index.yml')


def get_version():
    ns = {}
    with open(osp.join(HERE, 'mmrevcol', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


def read_requirements(name):
    """Requirement lines of ``requirements/<name>`` (comments dropped)."""
    path = osp.join(HERE, 'requirements', name)
    with open(path) as f:
        return [
            line.split('#')[0].strip() for line in f
            if line.split('#')[0].strip()
        ]


def install_requires():
    """What the code imports itself, as ranges; no torch, no mmcv."""
    return read_requirements('install.txt')


def extras_require():
    """The downstream libraries and the test tools, as optional extras."""
    extras = {
        'mmdet': ['mmdet>=3.0.0,<4.0.0'],
        # mmseg 1.x imports ftfy and regex (its text encoders) at import
        'mmseg': ['mmsegmentation>=1.0.0,<2.0.0', 'ftfy', 'regex'],
        'mmpretrain': ['mmpretrain>=1.0.0,<2.0.0'],
    }
    extras['all'] = sorted({req for reqs in extras.values() for req in reqs})
    extras['tests'] = read_requirements('tests.txt')
    # torch / mmcv / mmengine ranges, as mmdet's and mmseg's `mim` extra
    extras['mim'] = read_requirements('mminstall.txt')
    return extras


def add_mim_extension():
    """Put ``configs/``, ``tools/`` and ``model-index.yml`` into
    ``mmrevcol/.mim``: symlinks for an editable install, copies for a wheel
    or an sdist (OpenMMLab's ``add_mim_extension``). ``mmrevcol/.mim`` is
    git-ignored; ``MANIFEST.in`` lists what goes into the distributions."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        # pip install -e . (legacy develop, or PEP 660 editable_wheel)
        mode = 'copy' if platform.system() == 'Windows' else 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    mim_path = osp.join(HERE, 'mmrevcol', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(HERE, name)
        tar = osp.join(mim_path, name)
        if not osp.exists(src):
            warnings.warn(f'{src} does not exist; not added to {mim_path}')
            continue
        if osp.islink(tar) or osp.isfile(tar):
            os.remove(tar)
        elif osp.isdir(tar):
            shutil.rmtree(tar)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, osp.dirname(tar)), tar)
        elif osp.isfile(src):
            shutil.copyfile(src, tar)
        else:
            shutil.copytree(
                src, tar, ignore=shutil.ignore_patterns('__pycache__',
                                                        '*.pyc'))


if __name__ == '__main__':
    add_mim_extension()
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        long_description = f.read()
    setup(
        name='mmrevcol',
        version=get_version(),
        description='Reversible Column Networks (RevCol, RevColV2) for '
        'OpenMMLab 2.0: mmdet, mmseg and mmpretrain backbones',
        long_description=long_description,
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        packages=find_packages(exclude=('configs', 'configs.*', 'tools',
                                        'tools.*', 'tests', 'tests.*')),
        include_package_data=True,
        python_requires='>=3.9',
        install_requires=install_requires(),
        extras_require=extras_require(),
        zip_safe=False,
    )
