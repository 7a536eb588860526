from .complexity import (dummy_data_batch, format_complexity, get_complexity,
                         load_model, sdpa_flop_jit)
from .memory import (MemoryResult, ModeResult, PretrainResult,
                     benchmark_memory, benchmark_pretrain, columns_label,
                     format_memory_table, format_pretrain_table,
                     summarize_memory)
from .speed import (LatencyResult, benchmark_config, benchmark_model,
                    format_latency, measure_latency)

__all__ = [
    'MemoryResult', 'ModeResult', 'benchmark_memory', 'format_memory_table',
    'columns_label', 'summarize_memory', 'PretrainResult',
    'benchmark_pretrain', 'format_pretrain_table',
    'dummy_data_batch', 'format_complexity', 'get_complexity', 'load_model',
    'sdpa_flop_jit', 'LatencyResult', 'benchmark_config', 'benchmark_model',
    'format_latency', 'measure_latency'
]
