"""Checkpoint converters (the functions behind tools/model_converters)."""
from .revcol import (ConversionError, ConversionReport, convert_checkpoint,
                     convert_state_dict, find_state_dict, infer_arch,
                     map_official_key, pad_depthwise_kernel, read_checkpoint)
from .revcolv2_mim import ExportReport, export_mim_backbone

__all__ = [
    'ConversionError', 'ConversionReport', 'convert_checkpoint',
    'convert_state_dict', 'find_state_dict', 'infer_arch',
    'map_official_key', 'pad_depthwise_kernel', 'read_checkpoint',
    'ExportReport', 'export_mim_backbone'
]
