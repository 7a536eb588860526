from .complexity import (dummy_data_batch, format_complexity, get_complexity,
                         load_model, sdpa_flop_jit)
from .memory import (MemoryResult, ModeResult, benchmark_memory,
                     format_memory_table)
from .speed import (LatencyResult, benchmark_config, benchmark_model,
                    format_latency, measure_latency)

__all__ = [
    'MemoryResult', 'ModeResult', 'benchmark_memory', 'format_memory_table',
    'dummy_data_batch', 'format_complexity', 'get_complexity', 'load_model',
    'sdpa_flop_jit', 'LatencyResult', 'benchmark_config', 'benchmark_model',
    'format_latency', 'measure_latency'
]
