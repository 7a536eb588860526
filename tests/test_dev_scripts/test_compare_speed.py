""".dev_scripts/compare_speed.py: two revisions and the fast-path switches
side by side (toy sizes)."""
import pytest

from tests.helpers import load_script


@pytest.fixture(scope='module')
def tool():
    return load_script('.dev_scripts/compare_speed.py')


def test_tiny_side_by_side(tool, capsys):
    result = tool.main(['--tiny', '--base', 'HEAD', '--repeat', '1',
                        '--iters', '1', '--rows', 'train-rev',
                        '--variants', 'base,head,no-fuse,no-rng-skip'])
    assert set(result) == {f'{r}/{v}' for r in ('train-rev', )
                           for v in ('base', 'head', 'no-fuse',
                                     'no-rng-skip')}
    assert all(t > 0 for t in result.values())
    out = capsys.readouterr().out
    assert 'fastest of each' in out


def test_bad_arguments(tool):
    with pytest.raises(SystemExit):
        tool.main(['--rows', 'bogus'])
    with pytest.raises(SystemExit):
        tool.main(['--variants', 'base'])  # base needs --base
