from .memory import MemoryResult, benchmark_memory, format_memory_table

__all__ = ['MemoryResult', 'benchmark_memory', 'format_memory_table']
