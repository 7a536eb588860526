"""The closing summary of tools/analysis_tools/benchmark_memory.py names the
column counts it measured (:func:`analysis_lib.summarize_memory`)."""
from analysis_lib import (MemoryResult, ModeResult, columns_label,
                               summarize_memory)


def _results(model, saved_by_columns):
    """``{columns: (plain bytes, rev bytes)}`` -> results, 1 s per step."""
    return [
        MemoryResult(model, n, {
            'plain': ModeResult(plain, plain, 1.0, None, None),
            'rev': ModeResult(rev, rev, 1.5, 1e-7, 2e-7),
        }) for n, (plain, rev) in saved_by_columns.items()
    ]


def test_columns_label():
    assert columns_label([3, 4, 5, 6, 7, 8]) == '3..8'
    assert columns_label([4, 3]) == '3..4'
    assert columns_label([3, 5, 8]) == '3, 5, 8'
    assert columns_label([6]) == '6'


def test_summary_names_the_measured_columns():
    # 2 columns lie outside the spread's range [3, 8] and are left out
    results = _results('v1-t', {2: (100, 5), 3: (150, 10), 4: (200, 11)})
    lines = summarize_memory(results).splitlines()
    assert lines == [
        'v1-t rev: saved bytes vary by 10.0% over 3..4 columns',
        'v1-t rev @ 4 columns: 18.18x less saved memory, 1.50x step time, '
        'gradient error 2.0e-07',
    ]
    assert '3..8' not in summarize_memory(results)


def test_summary_with_gaps_and_several_models():
    results = (_results('v2-b', {3: (10, 4), 5: (20, 4), 8: (30, 5)}) +
               _results('v1-b', {6: (10, 2)}))
    text = summarize_memory(results)
    assert 'v2-b rev: saved bytes vary by 25.0% over 3, 5, 8 columns' in text
    # one column count in range: no spread line, only the last-count line
    assert 'v1-b rev: saved bytes vary' not in text
    assert 'v1-b rev @ 6 columns: 5.00x less saved memory' in text
    # the range can be moved
    wide = summarize_memory(results, min_columns=5, max_columns=16)
    assert 'v2-b rev: saved bytes vary by 25.0% over 5, 8 columns' in wide
