"""mypkg: the Part IV user API over libstruct_demo.so; ctypes stays inside mypkg.bindings."""
from .bindings import (InputRecordPy, ItemPy, OutputRecordPy, ScoredItemPy, TransformError, TransformResult,
                       transform)

__all__ = ["InputRecordPy", "ItemPy", "OutputRecordPy", "ScoredItemPy", "TransformError", "TransformResult",
           "transform"]
