"""Analysis code of the tools under ``tools/analysis_tools``.

Names are imported on first use (PEP 562), so a submodule that needs only
torch (:mod:`.side_by_side`) imports on a machine without mmengine.
"""
import importlib

_WHERE = {
    'dummy_data_batch': 'complexity', 'format_complexity': 'complexity',
    'get_complexity': 'complexity', 'load_model': 'complexity',
    'sdpa_flop_jit': 'complexity',
    'MemoryResult': 'memory', 'ModeResult': 'memory',
    'PretrainResult': 'memory', 'benchmark_memory': 'memory',
    'benchmark_pretrain': 'memory', 'columns_label': 'memory',
    'format_memory_table': 'memory', 'format_pretrain_table': 'memory',
    'summarize_memory': 'memory',
    'LatencyResult': 'speed', 'benchmark_config': 'speed',
    'benchmark_model': 'speed', 'format_latency': 'speed',
    'measure_latency': 'speed',
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f'.{_WHERE[name]}', __name__),
                       name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = [
    'MemoryResult', 'ModeResult', 'benchmark_memory', 'format_memory_table',
    'columns_label', 'summarize_memory', 'PretrainResult',
    'benchmark_pretrain', 'format_pretrain_table',
    'dummy_data_batch', 'format_complexity', 'get_complexity', 'load_model',
    'sdpa_flop_jit', 'LatencyResult', 'benchmark_config', 'benchmark_model',
    'format_latency', 'measure_latency'
]
