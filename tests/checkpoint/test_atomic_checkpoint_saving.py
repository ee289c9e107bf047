"""A save that fails or is killed midway leaves the previous checkpoint and last_checkpoint
valid, and training resumes from them (upertool.compat.atomic_checkpoint)."""
import os
import subprocess
import sys
import textwrap

import mmengine.runner
import pytest
import torch
from mmengine.hooks import checkpoint_hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner import checkpoint as mm_checkpoint
from mmengine.runner.checkpoint import _load_checkpoint
from torch import nn
from torch.utils.data import Dataset

from upertool.compat import atomic_checkpoint, install_stack_fixes


class TinyNet(BaseModel):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1)

    def forward(self, x, y, mode='tensor'):
        out = self.lin(x)
        if mode == 'loss':
            return dict(loss=((out - y) ** 2).mean())
        return out


class TinyData(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.tensor([float(i % 4), 1.0]), y=torch.tensor([0.5 * i]))


def make_runner(work_dir, max_iters, resume=False):
    torch.manual_seed(0)
    make_runner.count += 1  # mmengine keeps one logger/visualizer per experiment name
    return Runner(
        model=TinyNet(), work_dir=str(work_dir),
        experiment_name=f'atomic_{os.getpid()}_{make_runner.count}',
        train_dataloader=dict(dataset=TinyData(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9)),
        # max_keep_ckpts=1: mmengine itself deletes the previous checkpoint before saving.
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False,
                                           max_keep_ckpts=1)),
        resume=resume, log_level='WARNING')


make_runner.count = 0


def failing_save_after(calls_ok, written):
    """A torch.save that works `calls_ok` times, then writes 64 bytes and raises."""
    real_save = torch.save
    count = [0]

    def save(obj, f, *args, **kwargs):
        count[0] += 1
        if count[0] <= calls_ok:
            return real_save(obj, f, *args, **kwargs)
        f.write(b'PK\x03\x04' + b'\0' * 60)
        written.append(getattr(f, 'name', f))
        raise OSError(28, 'No space left on device (simulated)')
    return save


@pytest.fixture(autouse=True)
def installed():
    install_stack_fixes()


def test_failed_save_keeps_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / 'iter_1.pth'
    mm_checkpoint.save_checkpoint(dict(state_dict=dict(w=torch.ones(3))), str(path))
    written = []
    monkeypatch.setattr(torch, 'save', failing_save_after(0, written))

    with pytest.raises(OSError, match='simulated'):
        mm_checkpoint.save_checkpoint(dict(state_dict=dict(w=torch.zeros(3))), str(path))

    assert written and written[0] != str(path)  # the partial bytes went to another file
    assert os.listdir(tmp_path) == ['iter_1.pth']
    assert torch.equal(_load_checkpoint(str(path))['state_dict']['w'], torch.ones(3))


DISK_FULL_CHILD = """
import resource, signal, sys, torch
import mmengine.runner  # loaded first: `import upertool` then installs the runner's fixes too
import upertool
from mmengine.runner import save_checkpoint
path = sys.argv[1]
save_checkpoint(dict(state_dict=dict(w=torch.ones(3))), path)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (16384, resource.RLIM_INFINITY))
try:
    save_checkpoint(dict(state_dict=dict(w=torch.zeros(100000))), path)
except (OSError, RuntimeError) as err:  # torch wraps EFBIG in a RuntimeError
    print('failed:', 'File too large' in repr(err) + repr(err.__context__))
"""


@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX resource limits')
def test_write_failing_midway_keeps_previous_file(tmp_path):
    """The file system refuses the write after 16 KiB (as a full disk would)."""
    path = tmp_path / 'iter_1.pth'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', DISK_FULL_CHILD, str(path)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == 'failed: True'  # EFBIG, raised out of save_checkpoint
    assert os.listdir(tmp_path) == ['iter_1.pth']
    assert torch.equal(_load_checkpoint(str(path))['state_dict']['w'], torch.ones(3))


def test_failed_save_during_training_then_resume(tmp_path, monkeypatch):
    reference = make_runner(tmp_path / 'reference', max_iters=4)
    reference.train()

    work_dir = tmp_path / 'work'
    make_runner(work_dir, max_iters=2).train()
    written = []
    monkeypatch.setattr(torch, 'save', failing_save_after(0, written))
    runner = make_runner(work_dir, max_iters=4, resume=True)
    with pytest.raises(OSError, match='simulated'):
        runner.train()  # iteration 3 ran; saving iter_3.pth failed after 64 bytes
    monkeypatch.undo()

    assert written
    files = sorted(p.name for p in work_dir.iterdir() if p.is_file() and p.suffix != '.py')
    assert files == ['iter_2.pth', 'last_checkpoint']  # no iter_3.pth, no temporary
    # the pointer holds iter_2.pth, relative to the work dir; upertool resolves it
    assert mm_checkpoint.find_latest_checkpoint(str(work_dir)) == str(work_dir / 'iter_2.pth')
    assert _load_checkpoint(str(work_dir / 'iter_2.pth'))['meta']['iter'] == 2

    resumed = make_runner(work_dir, max_iters=4, resume=True)
    resumed.train()

    assert resumed.iter == 4
    assert mm_checkpoint.find_latest_checkpoint(str(work_dir)) == str(work_dir / 'iter_4.pth')
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == ['iter_4.pth']
    # Same weights as four uninterrupted iterations: the resume continued where iter 2 ended.
    for key, value in reference.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=0, atol=0)


KILLED_CHILD = '''
import os, signal, sys
import torch
sys.path.insert(0, {test_dir!r})
import test_atomic_checkpoint_saving as t
t.install_stack_fixes()
t.make_runner({work_dir!r}, max_iters=2).train()
real_save = torch.save
def save(obj, f, *args, **kwargs):  # iter 3: half the bytes reach the disk, then SIGKILL
    real_save(obj, f, *args, **kwargs)
    f.flush()
    size = f.tell()
    f.truncate(size // 2)
    f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = save
t.make_runner({work_dir!r}, max_iters=4, resume=True).train()
'''


@pytest.mark.skipif(not hasattr(os, 'kill') or sys.platform == 'win32', reason='POSIX kill')
def test_process_killed_while_saving_then_resume(tmp_path):
    work_dir = tmp_path / 'work'
    script = KILLED_CHILD.format(test_dir=os.path.dirname(__file__), work_dir=str(work_dir))
    env = dict(os.environ, OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', textwrap.dedent(script)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr  # killed by SIGKILL during the save

    leftovers = [p.name for p in work_dir.iterdir() if p.name.startswith('.iter_3.pth.tmp-')]
    assert len(leftovers) == 1  # the half-written temporary, under a name nothing loads
    assert not (work_dir / 'iter_3.pth').exists()
    # the pointer holds iter_2.pth, relative to the work dir; upertool resolves it
    assert mm_checkpoint.find_latest_checkpoint(str(work_dir)) == str(work_dir / 'iter_2.pth')

    resumed = make_runner(work_dir, max_iters=3, resume=True)
    resumed.train()
    assert resumed.iter == 3
    assert _load_checkpoint(str(work_dir / 'iter_3.pth'))['meta']['iter'] == 3
    # Writing iter_3.pth again cleared the killed write's temporary.
    assert not [p for p in work_dir.iterdir() if '.tmp-' in p.name]


def test_last_checkpoint_is_replaced_whole(tmp_path):
    pointer = tmp_path / 'last_checkpoint'
    pointer.write_text('/old/iter_1.pth')
    f = checkpoint_hook.open(str(pointer), 'w')  # as CheckpointHook writes it
    with f as handle:
        handle.write('/new/iter_2.pth')
        assert pointer.read_text() == '/old/iter_1.pth'  # readers still see the old one
    assert pointer.read_text() == '/new/iter_2.pth'
    # Every other open() in that module is the builtin.
    with checkpoint_hook.open(str(tmp_path / 'other.txt'), 'w') as other:
        assert other.name == str(tmp_path / 'other.txt')


def test_install_is_idempotent():
    from mmengine.hooks import CheckpointHook

    ckpt = mm_checkpoint
    before = (ckpt.save_checkpoint, CheckpointHook._save_checkpoint_with_step,
              CheckpointHook._save_best_checkpoint, checkpoint_hook.open)
    atomic_checkpoint.install()
    after = (ckpt.save_checkpoint, CheckpointHook._save_checkpoint_with_step,
             CheckpointHook._save_best_checkpoint, checkpoint_hook.open)
    assert before == after
    assert mmengine.runner.save_checkpoint is ckpt.save_checkpoint  # the re-exported copy
    assert mmengine.runner.runner.save_checkpoint is ckpt.save_checkpoint
    assert hasattr(ckpt.save_checkpoint, '__upertool_replaces__')
