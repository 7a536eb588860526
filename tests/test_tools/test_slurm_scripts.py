"""tools/slurm_train.sh and tools/slurm_test.sh, with a fake ``srun`` on
PATH that records its arguments and environment."""
import os
import os.path as osp
import subprocess

import pytest
from tests.helpers import ROOT

TOOLS = osp.join(ROOT, 'tools')

FAKE_SRUN = '''#!/bin/sh
printf '%s\\n' "$@" > "$FAKE_SRUN_DIR/args.txt"
printf 'MASTER_PORT=%s\\n' "${MASTER_PORT-<unset>}" > "$FAKE_SRUN_DIR/env.txt"
'''

#: srun's arguments with the defaults: 8 tasks, 8 per node, 5 CPUs each.
DEFAULT_SRUN = [
    '--gres=gpu:8', '--ntasks=8', '--ntasks-per-node=8', '--cpus-per-task=5',
    '--kill-on-bad-exit=1'
]


def _slurm(script, args, tmp_path, **env):
    """Run ``bash tools/<script> *args`` with the fake srun; returns the
    process, srun's argv (None when srun was not called) and its
    MASTER_PORT."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir(exist_ok=True)
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(0o755)
    for name in ('args.txt', 'env.txt'):
        if (tmp_path / name).exists():
            (tmp_path / name).unlink()
    full_env = {
        key: value
        for key, value in os.environ.items()
        if key not in ('GPUS', 'GPUS_PER_NODE', 'CPUS_PER_TASK', 'SRUN_ARGS',
                       'PORT', 'MASTER_PORT', 'PYTHON')
    }
    full_env.update(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
                    FAKE_SRUN_DIR=str(tmp_path), **env)
    proc = subprocess.run(['bash', osp.join(TOOLS, script)] + args,
                          env=full_env, capture_output=True, text=True,
                          timeout=30, cwd=str(tmp_path))
    argv = port = None
    if (tmp_path / 'args.txt').exists():
        argv = (tmp_path / 'args.txt').read_text().splitlines()
        port = (tmp_path / 'env.txt').read_text().strip()
    return proc, argv, port


def test_slurm_train_forwards_arguments(tmp_path):
    proc, argv, port = _slurm(
        'slurm_train.sh',
        ['dev', 'revcol', 'cfg.py', 'work_dirs/x', '--amp', '--cfg-options',
         'a=1'], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert argv == ['-p', 'dev', '--job-name=revcol'] + DEFAULT_SRUN + [
        'python', '-u', osp.join(TOOLS, 'train.py'), 'cfg.py', '--launcher',
        'slurm', '--work-dir', 'work_dirs/x', '--amp', '--cfg-options', 'a=1'
    ]
    assert port == 'MASTER_PORT=<unset>'  # mmengine's default then


def test_slurm_train_without_work_dir(tmp_path):
    """A 4th argument that is an option: train.py's default work dir."""
    proc, argv, _ = _slurm('slurm_train.sh',
                           ['dev', 'revcol', 'cfg.py', '--resume'], tmp_path,
                           GPUS='2')
    assert proc.returncode == 0, proc.stderr
    # GPUS_PER_NODE defaults to GPUS when it is below 8
    assert argv[3:6] == ['--gres=gpu:2', '--ntasks=2', '--ntasks-per-node=2']
    assert argv[-5:] == [
        osp.join(TOOLS, 'train.py'), 'cfg.py', '--launcher', 'slurm',
        '--resume'
    ]
    proc, argv, _ = _slurm('slurm_train.sh', ['dev', 'revcol', 'cfg.py'],
                           tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert argv[-4:] == [
        osp.join(TOOLS, 'train.py'), 'cfg.py', '--launcher', 'slurm'
    ]


def test_slurm_test_forwards_arguments_and_environment(tmp_path):
    proc, argv, port = _slurm(
        'slurm_test.sh',
        ['dev', 'revcol-test', 'cfg.py', 'w.pth', '--tta', '--out', 'p.pkl'],
        tmp_path, GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='4',
        SRUN_ARGS='--quotatype=auto --time=1-0', PORT='29123',
        PYTHON='/opt/py/bin/python3')
    assert proc.returncode == 0, proc.stderr
    assert argv == [
        '-p', 'dev', '--job-name=revcol-test', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=4', '--kill-on-bad-exit=1',
        '--quotatype=auto', '--time=1-0', '/opt/py/bin/python3', '-u',
        osp.join(TOOLS, 'test.py'), 'cfg.py', 'w.pth', '--launcher', 'slurm',
        '--tta', '--out', 'p.pkl'
    ]
    assert port == 'MASTER_PORT=29123'


@pytest.mark.parametrize('script,args,usage', [
    ('slurm_train.sh', ['dev', 'revcol'],
     'PARTITION JOB_NAME CONFIG [WORK_DIR]'),
    ('slurm_train.sh', [], 'PARTITION JOB_NAME CONFIG [WORK_DIR]'),
    ('slurm_test.sh', ['dev', 'revcol', 'cfg.py'],
     'PARTITION JOB_NAME CONFIG CHECKPOINT'),
])
def test_slurm_scripts_usage_errors(tmp_path, script, args, usage):
    proc, argv, _ = _slurm(script, args, tmp_path)
    assert proc.returncode == 2 and argv is None
    assert 'usage: bash' in proc.stderr and usage in proc.stderr


@pytest.mark.parametrize('name,value', [('GPUS', '0'), ('GPUS', 'two'),
                                        ('GPUS_PER_NODE', 'x'),
                                        ('CPUS_PER_TASK', '-1')])
def test_slurm_scripts_reject_bad_counts(tmp_path, name, value):
    proc, argv, _ = _slurm('slurm_train.sh', ['dev', 'j', 'cfg.py', 'w'],
                           tmp_path, **{name: value})
    assert proc.returncode == 2 and argv is None
    assert f"{name} must be a positive integer, got '{value}'" in proc.stderr
